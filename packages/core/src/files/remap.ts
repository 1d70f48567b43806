/**
 * tftpd-hpa's filename remapping rules (`in.tftpd -m FILE`, tftpd(8) "FILENAME REMAPPING"), read and
 * applied as tftp-hpa 5.2's tftpd/remap.c does, with the regular expressions run by RE2 (re2js):
 * matching takes time linear in the name whatever the pattern, and a pattern RE2 cannot run that way
 * (a back-reference) is refused when the file is read, with its line number.
 *
 * A line is `operation regex [replacement]`, separated by unescaped whitespace; an unescaped `#`
 * starts a comment. Operations (any combination):
 *   r  replace the matched part with the replacement     g  repeat the rule until it no longer matches
 *   i  match case-insensitively                          e  stop after this rule if it matched
 *   s  start again from the first rule if it matched     a  refuse the request if it matched
 *                                                           (the replacement is the error message)
 *   G  GET (read) requests only    P  PUT (write) only    4 / 6  IPv4 / IPv6 clients only
 *   ~  apply if the regex does NOT match (not with r)
 * Replacement escapes: `\0` the whole match, `\1`..`\9` groups, `\i` the client's address, `\x` it in
 * hex, `\U` `\L` `\E` upper/lower case from here / stop, `\` before any other character that
 * character. bootwire adds `{mac}` (00908fb00009), `{MAC}` (00908FB00009) and `{model}`: the phone's,
 * from bootwire's DHCP server in the same process; a rule that names one the phone does not have (no
 * lease known for its address) does not apply. Write `\{` for a literal `{`.
 *
 * What each rule does is compared with Debian's in.tftpd (5.2) in test/files/remap-peer.test.ts. Differences:
 * - POSIX ERE picks the leftmost-longest match; RE2 is run in its longest-match mode, which gives the
 *   same whole match (group boundaries inside it can differ in rare ambiguous patterns).
 * - `s` restarts at the first rule, as tftpd(8) says; 5.2's loop restarts at the second (fixed
 *   upstream since; the test shows both).
 * - A rule set that does not settle (`rg a aa`, which 5.2 loops on forever) is refused after 1,024
 *   steps, with tftpd-hpa's message "Remap table failure", as later tftp-hpa versions do.
 */
import type { RE2JS } from 're2js';
import { re2 } from '../re2.js';
import type { Phone } from '../server/phones.js';

interface Rule {
  line: number;
  rewrite: boolean;
  global: boolean;
  exit: boolean;
  restart: boolean;
  abort: boolean;
  inverse: boolean;
  /** 'G' or 'P' when the rule applies to one direction only. */
  op?: 'G' | 'P';
  family?: 4 | 6;
  regex: RE2JS;
  /** The replacement (or, for `a`, the error message), as written. */
  pattern: string;
  needsMac: boolean;
  needsModel: boolean;
}

export interface RemapRules {
  readonly rules: readonly Rule[];
}

export type RemapParse = { ok: true; rules: RemapRules } | { ok: false; line: number; message: string };

export interface RemapContext {
  /** G: a read (RRQ, GET, RETR); P: a write. */
  op: 'G' | 'P';
  /** The client's address (`\i`, `\x`, and the 4/6 flags). */
  address: string;
  phone?: Phone;
}

export type RemapResult = { ok: true; name: string } | { ok: false; message?: string };

/** Rules visited plus `g` repetitions before a rule set is called looping (tftpd-hpa: DEADMAN_MAX_STEPS). */
export const REMAP_MAX_STEPS = 1024;
/** A rewritten name longer than this is refused (a rule set that grows names without end). */
export const REMAP_MAX_NAME = 4096;
const REMAP_FAILURE = 'Remap table failure';

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';

/** tftpd-hpa's readescstring: the next token, ending at unescaped whitespace or `#` (backslashes kept). */
function nextToken(line: string, at: number): { token: string; next: number } {
  let p = at;
  while (p < line.length && isSpace(line[p]!)) p++;
  let wasBackslash = false;
  const start = p;
  while (p < line.length) {
    const c = line[p]!;
    if (!wasBackslash && (isSpace(c) || c === '#')) break;
    wasBackslash = !wasBackslash && c === '\\';
    p++;
  }
  return { token: line.slice(start, p), next: p };
}

const FLAGS = 'rgeasiGP~46';

function parseLine(text: string, line: number): Rule | undefined | { error: string } {
  const ops = nextToken(text, 0);
  if (ops.token === '') return undefined;
  const rule = {
    line,
    rewrite: false,
    global: false,
    exit: false,
    restart: false,
    abort: false,
    inverse: false,
  } as Rule;
  let icase = false;
  for (const f of ops.token) {
    switch (f) {
      case 'r':
        rule.rewrite = true;
        break;
      case 'g':
        rule.global = true;
        break;
      case 'e':
        rule.exit = true;
        break;
      case 's':
        rule.restart = true;
        break;
      case 'a':
        rule.abort = true;
        break;
      case 'i':
        icase = true;
        break;
      case 'G':
      case 'P':
        rule.op = f;
        break;
      case '4':
        rule.family = 4;
        break;
      case '6':
        rule.family = 6;
        break;
      case '~':
        rule.inverse = true;
        break;
      default:
        return {
          error:
            `operation ${JSON.stringify(ops.token)} contains ${JSON.stringify(f)} (operations are ` +
            `${FLAGS.split('').join(' ')})`,
        };
    }
  }
  if (!rule.rewrite) rule.global = false; // g only means something with r
  if (rule.rewrite && rule.inverse) return { error: 'r rules cannot be inverted (~)' };
  const rx = nextToken(text, ops.next);
  if (rx.token === '') return { error: 'no regular expression' };
  try {
    const RE2 = re2();
    rule.regex = RE2.compile(rx.token, RE2.LONGEST_MATCH | (icase ? RE2.CASE_INSENSITIVE : 0));
  } catch (e) {
    return {
      error:
        `regular expression ${JSON.stringify(rx.token)} cannot be run in linear time or is not valid ` +
        `(RE2 syntax): ${(e as Error).message}`,
    };
  }
  rule.pattern = nextToken(text, rx.next).token;
  rule.needsMac = /(^|[^\\])\{(mac|MAC)\}/.test(rule.pattern);
  rule.needsModel = /(^|[^\\])\{model\}/.test(rule.pattern);
  return rule;
}

/** Reads a rules file's text; the first bad line refuses the whole file. */
export function parseRemapRules(text: string): RemapParse {
  const rules: Rule[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const r = parseLine(lines[i]!.replace(/\0/g, ''), i + 1);
    if (r === undefined) continue;
    if ('error' in r) return { ok: false, line: i + 1, message: r.error };
    rules.push(r);
  }
  return { ok: true, rules: { rules } };
}

const upper = (s: string) => s.replace(/[a-z]+/g, (m) => m.toUpperCase());
const lower = (s: string) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

/** The client's address in hex, as tftpd-hpa's `\x`: 8 digits for IPv4, 32 for IPv6, uppercase. */
export function addressHex(address: string): string {
  if (address.includes('.') && !address.includes(':')) {
    return address
      .split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0'))
      .join('')
      .toUpperCase();
  }
  const [head, tail] = address.split('::') as [string, string | undefined];
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return all
    .map((g) => g.padStart(4, '0'))
    .join('')
    .toUpperCase();
}

const macHex = (mac: string) => mac.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
/** `{model}` as it may go into a name: what a client sent in option 60 is not trusted with path characters. */
const safeModel = (m: string) => m.replace(/[^A-Za-z0-9._+-]/g, '_');

interface Match {
  start: number;
  end: number;
  groups: [number, number][];
}

function matchOf(rule: Rule, s: string): Match | undefined {
  const m = rule.regex.matcher(s);
  if (!m.find()) return undefined;
  const groups: [number, number][] = [];
  const n = Math.min(9, rule.regex.groupCount());
  for (let g = 0; g <= n; g++) groups.push([m.start(g), m.end(g)]);
  return { start: m.start(0), end: m.end(0), groups };
}

/**
 * The replacement of `rule` for a match in `input` (tftpd-hpa's genmatchstring): the text before the
 * match, the expanded pattern, the text after it. `whole: false` (an `a` rule's message): the pattern
 * alone, its groups from the match.
 */
function expand(pattern: string, input: string, m: Match | undefined, ctx: RemapContext, whole = true): string {
  let xform = (s: string) => s;
  let out = '';
  for (let p = 0; p < pattern.length;) {
    const c = pattern[p]!;
    if (c === '\\' && p + 1 < pattern.length) {
      const macro = pattern[p + 1]!;
      p += 2;
      if (macro >= '0' && macro <= '9') {
        const g = m?.groups[macro.charCodeAt(0) - 48];
        if (g && g[0] >= 0) out += xform(input.slice(g[0], g[1]));
      } else if (macro === 'L') xform = lower;
      else if (macro === 'U') xform = upper;
      else if (macro === 'E') xform = (s) => s;
      else if (macro === 'i') out += xform(ctx.address);
      else if (macro === 'x') out += xform(addressHex(ctx.address));
      else out += xform(macro);
      continue;
    }
    if (c === '{') {
      const rest = pattern.slice(p, p + 7);
      if (rest.startsWith('{mac}') && ctx.phone) {
        out += xform(macHex(ctx.phone.mac));
        p += 5;
        continue;
      }
      if (rest.startsWith('{MAC}') && ctx.phone) {
        out += xform(macHex(ctx.phone.mac).toUpperCase());
        p += 5;
        continue;
      }
      if (rest === '{model}' && ctx.phone?.model !== undefined) {
        out += xform(safeModel(ctx.phone.model));
        p += 7;
        continue;
      }
    }
    out += xform(c);
    p++;
  }
  return m && whole ? input.slice(0, m.start) + out + input.slice(m.end) : out;
}

/** Runs the rules on a name, top down, as tftpd-hpa does. */
export function applyRemap(rules: RemapRules, name: string, ctx: RemapContext): RemapResult {
  const family = ctx.address.includes(':') && !ctx.address.startsWith('::ffff:') ? 6 : 4;
  let current = name;
  let steps = REMAP_MAX_STEPS;
  const list = rules.rules;
  for (let i = 0; i < list.length; i++) {
    const rule = list[i]!;
    if ((rule.op && rule.op !== ctx.op) || (rule.family && rule.family !== family)) continue;
    if ((rule.needsMac && !ctx.phone) || (rule.needsModel && ctx.phone?.model === undefined)) continue;
    if (steps-- <= 0) return { ok: false, message: REMAP_FAILURE };
    let matched = false;
    for (;;) {
      const m = matchOf(rule, current);
      if ((m !== undefined) === rule.inverse) break;
      matched = true;
      if (rule.abort) {
        return rule.pattern === ''
          ? { ok: false }
          : { ok: false, message: expand(rule.pattern, current, m, ctx, false) };
      }
      if (rule.rewrite) {
        current = expand(rule.pattern, current, m, ctx);
        if (current.length > REMAP_MAX_NAME) return { ok: false, message: REMAP_FAILURE };
      }
      if (!rule.global) break;
      if (steps-- <= 0) return { ok: false, message: REMAP_FAILURE };
    }
    if (!matched) continue;
    if (rule.exit) return { ok: true, name: current };
    if (rule.restart) i = -1;
  }
  return { ok: true, name: current };
}
