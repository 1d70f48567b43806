/**
 * Static checks of an Avaya upgrade script or settings file: what the phone would silently skip or
 * get stuck on. Errors: a statement the phone reads as a comment because it is malformed, a GOTO to a
 * label that does not exist (the phone ignores the rest of the file), a GOTO that can only loop, a
 * line too long to read. Warnings: lower-case keywords, duplicate labels, variables the phone cannot
 * test, text after a SET value. Files named by SET APPNAME and GET are checked by check-root.ts, which
 * runs the script per model.
 */
import { DEFAULT_SCRIPT_LIMITS, parseAvayaScript, type ScriptLimits, type ScriptLine } from './avaya-script.js';

export interface Diagnostic {
  readonly file: string;
  /** 1-based; 0 for the file as a whole. */
  readonly line: number;
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

/** Every variable any family can test (used when the file serves several families). */
export const ALL_SCRIPT_VARIABLES: readonly string[] = [
  'GROUP',
  'MACADDR',
  'MODEL',
  'MODEL4',
  'BOOTNAME',
  'SIG',
  'VPNACTIVE',
  'SIG_IN_USE',
  'HWVERS',
];

export interface LintOptions {
  /** Variables IF and GET may use; default ALL_SCRIPT_VARIABLES. */
  readonly variables?: readonly string[];
  readonly limits?: Partial<ScriptLimits>;
  /** Diagnostics kept (the rest counted in one warning). */
  readonly maxDiagnostics?: number;
}

/** Lints one file. Never throws. */
export function lintAvayaScript(file: string, text: string | Uint8Array, opts: LintOptions = {}): Diagnostic[] {
  const limits = { ...DEFAULT_SCRIPT_LIMITS, ...opts.limits };
  const variables = new Set(opts.variables ?? ALL_SCRIPT_VARIABLES);
  const max = opts.maxDiagnostics ?? 500;
  const parsed = parseAvayaScript(text, limits);
  const out: Diagnostic[] = [];
  let dropped = 0;
  const report = (line: number, severity: Diagnostic['severity'], message: string) => {
    if (out.length < max) out.push({ file, line, severity, message });
    else dropped++;
  };
  const lines = parsed.lines;

  // Comments that were probably meant as labels (`#LABEL`, `#  LABEL`, `# LABEL text`): word → line.
  const nearLabels = new Map<string, number>();
  const raw = (typeof text === 'string' ? text : new TextDecoder().decode(text)).split(/\r\n|\r|\n/);
  for (let i = 0; i < raw.length && i < lines.length; i++) {
    const m = lines[i]!.kind === 'comment' ? /^#\s*([^\s#]+)/.exec(raw[i]!) : null;
    if (m && !nearLabels.has(m[1]!)) nearLabels.set(m[1]!, i + 1);
  }
  const nearLabel = (label: string) => nearLabels.get(label);
  // For each line, the first IF, GET or GOTO at or after it (what could leave a loop).
  const nextExit = new Array<number>(lines.length + 1).fill(lines.length);
  for (let i = lines.length - 1; i >= 0; i--) {
    const k = lines[i]!.kind;
    nextExit[i] = k === 'if' || k === 'get' || k === 'goto' ? i : nextExit[i + 1]!;
  }
  const labelMissing = (l: ScriptLine & { label: string }) => {
    const near = nearLabel(l.label);
    const hint =
      near !== undefined ? ` (line ${near} looks like it but is a comment: a label is "#", one space, one word)` : '';
    report(
      l.line,
      'error',
      `label ${JSON.stringify(l.label)} is not defined: the phone ignores the rest of the file when it ` +
        `gets here${hint}`,
    );
  };

  const seen = new Map<string, number>();
  for (let index = 0; index < lines.length; index++) {
    const l = lines[index]!;
    switch (l.kind) {
      case 'label': {
        const first = seen.get(l.label);
        if (first !== undefined)
          report(
            l.line,
            'warning',
            `label ${JSON.stringify(l.label)} is also at line ${first}; GOTO goes to the first`,
          );
        else seen.set(l.label, l.line);
        break;
      }
      case 'comment':
        if (l.note) report(l.line, 'warning', l.note);
        break;
      case 'too-long':
        report(l.line, 'error', `line of ${l.length} characters: over ${limits.maxLineLength}, ignored`);
        break;
      case 'malformed':
        report(l.line, 'error', `malformed ${l.keyword}: ${l.problem} (the phone reads the line as a comment)`);
        break;
      case 'goto':
        if (!parsed.labels.has(l.label)) labelMissing(l);
        else if (parsed.labels.get(l.label)! < index && nextExit[parsed.labels.get(l.label)! + 1]! === index) {
          // An unconditional backward GOTO with no IF, GET or other GOTO between its label and itself.
          report(
            l.line,
            'error',
            `GOTO ${l.label} loops forever: nothing between the label and this line can leave the loop`,
          );
        }
        break;
      case 'if':
        if (!variables.has(l.variable))
          report(l.line, 'warning', `$${l.variable} is not a variable the phones can test: the line is ignored`);
        if (!parsed.labels.has(l.label)) labelMissing(l);
        break;
      case 'get':
        for (const m of l.file.matchAll(/\$([A-Za-z0-9_]+)/g)) {
          if (!variables.has(m[1]!))
            report(l.line, 'warning', `GET ${l.file}: $${m[1]} is not a variable of the phones: the line is ignored`);
        }
        break;
      case 'set':
        if (l.extra !== undefined)
          report(
            l.line,
            'warning',
            `text after the value is ignored: ${JSON.stringify(l.extra.slice(0, 60))} (quote values with spaces)`,
          );
        if (l.name !== l.name.toUpperCase()) report(l.line, 'warning', `parameter names are upper case: ${l.name}`);
        break;
      default:
        break;
    }
  }
  if (dropped > 0) out.push({ file, line: 0, severity: 'warning', message: `${dropped} more diagnostics not shown` });
  return out;
}
