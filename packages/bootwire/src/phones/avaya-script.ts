/**
 * The Avaya upgrade-script language (46xxupgrade.scr, 16xxupgrade.txt, 96xxupgrade.txt, 96x1Supgrade.txt
 * and the 46xxsettings.txt they GET): a parser and a pure, resumable interpreter.
 *
 * The language, from reference/phones.md ("The Avaya upgrade-script language") and the manuals:
 * - `# NAME` (a `#` in the first column, exactly one space, one word) is a label; any other line
 *   starting with `#`, and any line that is no statement at all, is a comment.
 * - `GOTO NAME` continues after the label; a missing label makes the rest of the file be ignored.
 * - `IF $VAR SEQ value GOTO NAME`: the GOTO when VAR's value matches value (case-insensitively on the
 *   4600 R2.2 and 1600, exactly on the 9600). A variable the phone does not have (or may not test)
 *   makes the whole line be ignored.
 * - `SET NAME value`: a parameter. Values may be enclosed in double quotes (needed for spaces).
 * - `GET file`: fetch another file and interpret it as a script. `$VAR` is expanded in the name
 *   (`GET $MACADDR.txt`); an unknown variable makes the line be ignored. What happens around a GET
 *   depends on the family (see `ScriptDialect.get`).
 *
 * Design: `parseAvayaScript` turns text into classified lines (shared with the linter). `AvayaScriptRun`
 * interprets them step by step: `step()` runs until the script wants a file (`{type: 'get'}`) or ends
 * (`{type: 'done'}`); the caller fetches the file and calls `step(outcome)` again. No I/O, no clock, no
 * exceptions on any input: hostile text (huge lines, GOTO loops, GET recursion, binary garbage) ends
 * in warnings, bounded by `ScriptLimits`.
 */

// ------------------------------------------------------------------------------------------- dialect

/** How one family interprets the language. */
export interface ScriptDialect {
  /** SEQ compares case-insensitively (4600 R2.2, 1600) or exactly (9600). */
  readonly seqCaseInsensitive: boolean;
  /**
   * GET semantics:
   * - 'avaya-4600': a failed GET ends the file that issued it; a fetched file is interpreted and then
   *   the issuing file continues after the GET ("interpreted as an additional script file").
   * - 'avaya-96xx': a failed GET continues the issuing file; a fetched file is interpreted and no
   *   further line of the issuing file is (9600 SIP, 96x1 and 1600 manuals).
   */
  readonly get: 'avaya-4600' | 'avaya-96xx';
  /** Variables an IF may test (and a GET may expand); others make the line be ignored. */
  readonly variables: readonly string[];
}

export interface ScriptLimits {
  /** Lines executed in all files together before the run stops (GOTO loops). */
  readonly maxSteps: number;
  /** Nested GETs (a settings file that GETs itself). */
  readonly maxDepth: number;
  /** Longer lines are ignored, with a warning. */
  readonly maxLineLength: number;
  /** Warnings kept; the rest are counted in one last warning. */
  readonly maxWarnings: number;
}

/** Bounds for hostile input, well above real scripts (the stock 46xxsettings.txt is ~2,000 lines). */
export const DEFAULT_SCRIPT_LIMITS: ScriptLimits = {
  maxSteps: 100_000,
  maxDepth: 8,
  maxLineLength: 4096,
  maxWarnings: 1000,
};

// -------------------------------------------------------------------------------------------- parser

export type ScriptLine =
  | { readonly kind: 'blank'; readonly line: number }
  /** `note` says why a line that looks like a statement is a comment to the phone (for the linter). */
  | { readonly kind: 'comment'; readonly line: number; readonly note?: string }
  | { readonly kind: 'label'; readonly line: number; readonly label: string }
  | { readonly kind: 'goto'; readonly line: number; readonly label: string }
  | {
      readonly kind: 'if';
      readonly line: number;
      readonly variable: string;
      readonly value: string;
      readonly label: string;
    }
  | {
      readonly kind: 'set';
      readonly line: number;
      readonly name: string;
      readonly value: string;
      readonly extra?: string;
    }
  | { readonly kind: 'get'; readonly line: number; readonly file: string }
  /** Starts with a keyword but is not a statement: the phone reads it as a comment. */
  | { readonly kind: 'malformed'; readonly line: number; readonly keyword: string; readonly problem: string }
  | { readonly kind: 'too-long'; readonly line: number; readonly length: number };

export interface ParsedScript {
  readonly lines: readonly ScriptLine[];
  /** Label → index in `lines` of its first occurrence. */
  readonly labels: ReadonlyMap<string, number>;
}

const KEYWORDS = new Set(['IF', 'GOTO', 'SET', 'GET']);
const NAME = /^[A-Za-z0-9_]+$/;
const TOKEN = /"([^"]*)"|(\S+)/g;

/** Script bytes to text: UTF-8, with U+FFFD for invalid sequences (garbage stays garbage, not an error). */
export function scriptText(input: string | Uint8Array): string {
  return typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: false }).decode(input);
}

interface Token {
  readonly text: string;
  readonly quoted: boolean;
}

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(s); m; m = TOKEN.exec(s))
    out.push(m[1] !== undefined ? { text: m[1], quoted: true } : { text: m[2]!, quoted: false });
  return out;
}

function parseLine(raw: string, line: number, limits: ScriptLimits): ScriptLine {
  if (raw.length > limits.maxLineLength) return { kind: 'too-long', line, length: raw.length };
  const text = raw.trimEnd();
  if (text.trim() === '') return { kind: 'blank', line };
  if (text.startsWith('#')) {
    const m = /^# (\S+)$/.exec(text);
    return m ? { kind: 'label', line, label: m[1]! } : { kind: 'comment', line };
  }
  const tokens = tokenize(text);
  const first = tokens[0]!;
  const keyword = first.text;
  if (first.quoted || !KEYWORDS.has(keyword.toUpperCase())) return { kind: 'comment', line };
  if (keyword !== keyword.toUpperCase())
    return { kind: 'comment', line, note: `"${keyword}" is not upper case: the phone reads this line as a comment` };
  const bad = (problem: string): ScriptLine => ({ kind: 'malformed', line, keyword, problem });
  if ((text.split('"').length - 1) % 2 === 1) return bad('unterminated double quote');
  switch (keyword) {
    case 'GOTO':
      if (tokens.length !== 2) return bad('expected GOTO LABEL');
      return { kind: 'goto', line, label: tokens[1]!.text };
    case 'GET':
      if (tokens.length !== 2 || tokens[1]!.text === '') return bad('expected GET FILENAME');
      return { kind: 'get', line, file: tokens[1]!.text };
    case 'SET': {
      if (tokens.length < 3) return bad('expected SET NAME VALUE');
      const name = tokens[1]!.text;
      if (tokens[1]!.quoted || !NAME.test(name)) return bad(`parameter name ${JSON.stringify(name)} is not [A-Z0-9_]`);
      const rest = tokens.slice(3).map((t) => (t.quoted ? `"${t.text}"` : t.text));
      return rest.length > 0
        ? { kind: 'set', line, name, value: tokens[2]!.text, extra: rest.join(' ') }
        : { kind: 'set', line, name, value: tokens[2]!.text };
    }
    default: {
      // IF $VAR SEQ value GOTO LABEL
      if (tokens.length !== 6) return bad('expected IF $VAR SEQ VALUE GOTO LABEL');
      const [, v, op, value, go, label] = tokens as [Token, Token, Token, Token, Token, Token];
      if (v.quoted || !v.text.startsWith('$') || !NAME.test(v.text.slice(1)))
        return bad(`expected $VARIABLE, got ${JSON.stringify(v.text)}`);
      if (op.text !== 'SEQ') return bad(`unknown operator ${JSON.stringify(op.text)} (only SEQ exists)`);
      if (go.text !== 'GOTO') return bad(`expected GOTO, got ${JSON.stringify(go.text)}`);
      return { kind: 'if', line, variable: v.text.slice(1), value: value.text, label: label.text };
    }
  }
}

/** Classifies every line (1-based numbers). Never throws. */
export function parseAvayaScript(input: string | Uint8Array, limits: Partial<ScriptLimits> = {}): ParsedScript {
  const lim = { ...DEFAULT_SCRIPT_LIMITS, ...limits };
  const text = scriptText(input);
  const lines: ScriptLine[] = [];
  const labels = new Map<string, number>();
  let start = 0;
  let n = 0;
  // Lines end at LF, CRLF or a lone CR.
  while (start <= text.length) {
    let end = start;
    while (end < text.length && text.charCodeAt(end) !== 10 && text.charCodeAt(end) !== 13) end++;
    if (end === text.length && start === text.length && n > 0) break;
    n++;
    const parsed =
      end - start > lim.maxLineLength
        ? ({ kind: 'too-long', line: n, length: end - start } as const)
        : parseLine(text.slice(start, end), n, lim);
    if (parsed.kind === 'label' && !labels.has(parsed.label)) labels.set(parsed.label, lines.length);
    lines.push(parsed);
    if (end >= text.length) break;
    start = end + (text.charCodeAt(end) === 13 && text.charCodeAt(end + 1) === 10 ? 2 : 1);
  }
  return { lines, labels };
}

// --------------------------------------------------------------------------------------- interpreter

export interface ScriptWarning {
  readonly file: string;
  /** 1-based; 0 when the warning is about the file as a whole. */
  readonly line: number;
  readonly message: string;
}

export interface ScriptSetting {
  readonly name: string;
  readonly value: string;
  readonly file: string;
  readonly line: number;
}

export interface ScriptGet {
  /** The file name after variable expansion. */
  readonly file: string;
  /** As written (`$MACADDR.txt`). */
  readonly written: string;
  /** The file and line of the GET. */
  readonly from: string;
  readonly line: number;
  readonly ok: boolean;
}

export interface ScriptResult {
  /** Every SET executed, in order (a parameter SET twice appears twice; the last one counts). */
  readonly settings: readonly ScriptSetting[];
  /** The last value of each parameter. */
  readonly values: ReadonlyMap<string, string>;
  /** The application (image) file the script names: the last `SET APPNAME`. */
  readonly appName?: string;
  /** Where APPNAME was set. */
  readonly appNameAt?: { readonly file: string; readonly line: number };
  readonly gets: readonly ScriptGet[];
  readonly warnings: readonly ScriptWarning[];
  /** False when a limit stopped the run. */
  readonly completed: boolean;
  /** Lines executed. */
  readonly steps: number;
}

export type FetchOutcome =
  { readonly ok: true; readonly text: string | Uint8Array } | { readonly ok: false; readonly reason?: string };

export type ScriptStep =
  | { readonly type: 'get'; readonly file: string; readonly from: string; readonly line: number }
  | { readonly type: 'done'; readonly result: ScriptResult };

export interface ScriptRunOptions {
  readonly dialect: ScriptDialect;
  /** The phone's variables (GROUP, MACADDR, MODEL, MODEL4, ...). A SET of a dialect variable changes it. */
  readonly variables: Readonly<Record<string, string>>;
  readonly limits?: Partial<ScriptLimits>;
}

interface Frame {
  readonly file: string;
  readonly parsed: ParsedScript;
  pc: number;
}

/**
 * One phone interpreting one script. Resumable: `step()` returns the next GET request or the result;
 * pass the fetched file (or the failure) to the following `step(outcome)`.
 */
export class AvayaScriptRun {
  private readonly limits: ScriptLimits;
  private readonly vars = new Map<string, string>();
  private readonly allowed: ReadonlySet<string>;
  private readonly frames: Frame[] = [];
  private readonly settings: ScriptSetting[] = [];
  private readonly values = new Map<string, string>();
  private readonly gets: ScriptGet[] = [];
  private readonly warnings: ScriptWarning[] = [];
  private suppressed = 0;
  private steps = 0;
  private completed = true;
  private appName: { value: string; file: string; line: number } | undefined;
  private pending: { file: string; written: string; from: string; line: number } | undefined;
  private result: ScriptResult | undefined;

  constructor(
    main: { readonly name: string; readonly text: string | Uint8Array },
    private readonly options: ScriptRunOptions,
  ) {
    this.limits = { ...DEFAULT_SCRIPT_LIMITS, ...options.limits };
    this.allowed = new Set(options.dialect.variables);
    for (const [k, v] of Object.entries(options.variables)) this.vars.set(k, v);
    this.frames.push({ file: main.name, parsed: parseAvayaScript(main.text, this.limits), pc: 0 });
  }

  /** Runs to the next GET or to the end. `outcome` answers the previous 'get' step. */
  step(outcome?: FetchOutcome): ScriptStep {
    if (this.result) return { type: 'done', result: this.result };
    if (this.pending) this.answer(this.pending, outcome ?? { ok: false, reason: 'no content supplied' });
    while (this.frames.length > 0) {
      const top = this.frames[this.frames.length - 1]!;
      if (top.pc >= top.parsed.lines.length) {
        this.frames.pop();
        continue;
      }
      if (++this.steps > this.limits.maxSteps) {
        this.warn(
          top.file,
          top.parsed.lines[top.pc]!.line,
          `stopped after ${this.limits.maxSteps} lines (a GOTO loop?): the rest is ignored`,
        );
        this.completed = false;
        this.frames.length = 0;
        break;
      }
      const request = this.exec(top, top.parsed.lines[top.pc++]!);
      if (request) return request;
    }
    return { type: 'done', result: this.finish() };
  }

  private exec(frame: Frame, l: ScriptLine): ScriptStep | undefined {
    switch (l.kind) {
      case 'blank':
      case 'comment':
      case 'label':
        return undefined;
      case 'too-long':
        this.warn(frame.file, l.line, `line of ${l.length} characters ignored (over ${this.limits.maxLineLength})`);
        return undefined;
      case 'malformed':
        this.warn(frame.file, l.line, `malformed ${l.keyword} (${l.problem}): read as a comment`);
        return undefined;
      case 'goto':
        this.jump(frame, l.label, l.line);
        return undefined;
      case 'if': {
        const value = this.variable(l.variable);
        if (value === undefined) {
          this.warn(frame.file, l.line, `$${l.variable} is not a variable this phone can test: line ignored`);
          return undefined;
        }
        const match = this.options.dialect.seqCaseInsensitive
          ? value.toLowerCase() === l.value.toLowerCase()
          : value === l.value;
        if (match) this.jump(frame, l.label, l.line);
        return undefined;
      }
      case 'set': {
        this.settings.push({ name: l.name, value: l.value, file: frame.file, line: l.line });
        this.values.set(l.name, l.value);
        if (l.name === 'APPNAME') this.appName = { value: l.value, file: frame.file, line: l.line };
        if (this.allowed.has(l.name)) this.vars.set(l.name, l.value);
        if (l.extra !== undefined)
          this.warn(
            frame.file,
            l.line,
            `text after the value is ignored: ${JSON.stringify(l.extra.slice(0, 60))} (quote values with spaces)`,
          );
        return undefined;
      }
      case 'get': {
        const expanded = this.expand(l.file);
        if ('unknown' in expanded) {
          this.warn(
            frame.file,
            l.line,
            `GET ${l.file}: $${expanded.unknown} is not a variable of this phone: line ignored`,
          );
          return undefined;
        }
        this.pending = { file: expanded.text, written: l.file, from: frame.file, line: l.line };
        return { type: 'get', file: expanded.text, from: frame.file, line: l.line };
      }
    }
  }

  private answer(p: { file: string; written: string; from: string; line: number }, outcome: FetchOutcome): void {
    this.pending = undefined;
    const top = this.frames[this.frames.length - 1]!;
    const ok = outcome.ok && this.frames.length <= this.limits.maxDepth;
    if (outcome.ok && !ok)
      this.warn(p.from, p.line, `GET ${p.file}: more than ${this.limits.maxDepth} nested GETs: treated as failed`);
    this.gets.push({ file: p.file, written: p.written, from: p.from, line: p.line, ok });
    const fourSixHundred = this.options.dialect.get === 'avaya-4600';
    if (!ok) {
      // 4600: a failed GET ends the issuing file. 96xx/16xx: the issuing file goes on.
      if (fourSixHundred) top.pc = top.parsed.lines.length;
      return;
    }
    // 96xx/16xx: no further line of the issuing file is interpreted.
    if (!fourSixHundred) top.pc = top.parsed.lines.length;
    this.frames.push({
      file: p.file,
      parsed: parseAvayaScript((outcome as { text: string | Uint8Array }).text, this.limits),
      pc: 0,
    });
  }

  private jump(frame: Frame, label: string, line: number): void {
    const at = frame.parsed.labels.get(label);
    if (at === undefined) {
      this.warn(frame.file, line, `label ${JSON.stringify(label)} not found: the rest of ${frame.file} is ignored`);
      frame.pc = frame.parsed.lines.length;
      return;
    }
    frame.pc = at + 1;
  }

  private variable(name: string): string | undefined {
    return this.allowed.has(name) ? this.vars.get(name) : undefined;
  }

  private expand(s: string): { text: string } | { unknown: string } {
    let unknown: string | undefined;
    const text = s.replace(/\$([A-Za-z0-9_]+)/g, (_, name: string) => {
      const v = this.variable(name);
      if (v === undefined) unknown ??= name;
      return v ?? '';
    });
    return unknown !== undefined ? { unknown } : { text };
  }

  private warn(file: string, line: number, message: string): void {
    if (this.warnings.length < this.limits.maxWarnings) this.warnings.push({ file, line, message });
    else this.suppressed++;
  }

  private finish(): ScriptResult {
    const warnings =
      this.suppressed > 0
        ? [...this.warnings, { file: '', line: 0, message: `${this.suppressed} more warnings not shown` }]
        : this.warnings;
    this.result = {
      settings: this.settings,
      values: this.values,
      ...(this.appName
        ? { appName: this.appName.value, appNameAt: { file: this.appName.file, line: this.appName.line } }
        : {}),
      gets: this.gets,
      warnings,
      completed: this.completed,
      steps: Math.min(this.steps, this.limits.maxSteps),
    };
    return this.result;
  }
}

/**
 * Runs a script to the end with a synchronous fetch (undefined = the file cannot be obtained).
 * `runAvayaScript({name: '46xxupgrade.scr', text}, {dialect, variables}, (f) => files.get(f))`.
 */
export function runAvayaScript(
  main: { readonly name: string; readonly text: string | Uint8Array },
  options: ScriptRunOptions,
  fetch: (file: string) => string | Uint8Array | undefined,
): ScriptResult {
  const run = new AvayaScriptRun(main, options);
  let s = run.step();
  while (s.type === 'get') {
    const text = fetch(s.file);
    s = run.step(text === undefined ? { ok: false } : { ok: true, text });
  }
  return s.result;
}

/** The same with an asynchronous fetch (a file server). A rejected fetch counts as a failed GET. */
export async function runAvayaScriptAsync(
  main: { readonly name: string; readonly text: string | Uint8Array },
  options: ScriptRunOptions,
  fetch: (file: string) => Promise<string | Uint8Array | undefined>,
): Promise<ScriptResult> {
  const run = new AvayaScriptRun(main, options);
  let s = run.step();
  while (s.type === 'get') {
    let outcome: FetchOutcome;
    try {
      const text = await fetch(s.file);
      outcome = text === undefined ? { ok: false } : { ok: true, text };
    } catch (e) {
      outcome = { ok: false, reason: (e as Error).message };
    }
    s = run.step(outcome);
  }
  return s.result;
}
