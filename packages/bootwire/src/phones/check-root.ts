/**
 * `bootwire check ROOT`: lints a provisioning root the way the phones will read it.
 *
 * - Avaya upgrade scripts and the settings files they GET: syntax and labels (avaya-script-lint.ts),
 *   then each script is run per model (avaya-script.ts) to find the files it names: a GET of a file
 *   that is not in the root (GETs that depend on $MACADDR excepted), a SET APPNAME image that is
 *   missing or whose header is not for that model, GOTO loops and GET recursion.
 * - Avaya 1200 provisioning files: sections and keywords (sip1200-config.ts), FILENAME files that are
 *   missing, a [FW] image whose header is not for the model.
 * - AudioCodes 400HD: `<MODEL>.img` headers and `<MODEL>.cfg` model lines.
 * - Every image (named by a script or provisioning file, `*.img`, or starting with bootwire's image
 *   magic): header, size and digest (image-header.ts).
 * - bootwire.json, when present: valid, and the files its option 160 URLs name exist.
 *
 * The checks run over a `RootView` (files and reads), so they are testable without a filesystem;
 * `checkRoot(dir)` is the filesystem edge.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ConfigError, parseConfig } from '../config/load.js';
import type { BootwireConfig } from '../config/schema.js';
import { DhcpConfigError, lookupOption } from '@bootwire/dhcp';
import { compileDhcpConfig } from '@bootwire/dhcp';
import { lintAvayaScript, ALL_SCRIPT_VARIABLES, type Diagnostic } from './avaya-script-lint.js';
import { runAvayaScriptAsync } from './avaya-script.js';
import { checkCfgModel, parseAudiocodesCfg } from './audiocodes-cfg.js';
import { parseProvisioningUrl } from './audiocodes-url.js';
import { checkImageFor, type ImageCheck, IMAGE_MAGIC, ImageVerifier } from './image-header.js';
import { PHONE_MODELS, type PhoneModel, scriptVariables } from './models.js';
import { fwDirective, parseSip1200Provisioning, sectionFiles } from './sip1200-config.js';

export type { Diagnostic } from './avaya-script-lint.js';

/** A provisioning root as the checks see it. */
export interface RootView {
  /** Relative '/'-separated paths of the regular files, hidden files excluded. */
  readonly files: readonly string[];
  /** The whole file; 'too-large' over `maxBytes`; undefined when unreadable. */
  read(name: string, maxBytes: number): Promise<Buffer | 'too-large' | undefined>;
  /** Streams the whole image through an ImageVerifier. */
  verifyImage(name: string): Promise<ImageCheck>;
  /** The first `n` bytes (fewer for a short file). */
  head(name: string, n: number): Promise<Buffer | undefined>;
  /** The real directory, for bootwire.json's relative paths. */
  readonly dir?: string;
  /** Set when the listing stopped early. */
  readonly truncated?: number;
}

export interface CheckResult {
  /** Sorted by file, then line. */
  readonly diagnostics: readonly Diagnostic[];
  readonly errors: number;
  readonly warnings: number;
  /** Files the checks read. */
  readonly filesChecked: number;
}

/** Scripts and settings files larger than this are not what a phone reads. */
export const MAX_TEXT_BYTES = 1 << 20;
/** The MAC the per-model script runs use (GETs that depend on it are not checked). */
export const CHECK_MAC = '00:04:0d:00:00:01';

const UPGRADE_SCRIPT = /(^|\/)[^/]*upgrade\.(scr|txt)$/i;
const SIP1200_PROVISIONING = /(^|\/)12[0-9x]0SIP\.cfg$/i;

/** Runs every check over a root view. */
export async function checkRootView(
  view: RootView,
  models: readonly PhoneModel[] = PHONE_MODELS,
): Promise<CheckResult> {
  const diags = new Map<string, Diagnostic>();
  const add = (file: string, line: number, severity: Diagnostic['severity'], message: string) => {
    const d = { file, line, severity, message };
    diags.set(`${file}\0${line}\0${message}`, d);
  };
  const files = new Set(view.files);
  const byLower = new Map<string, string>();
  for (const f of files) byLower.set(f.toLowerCase(), f);
  const read = new Set<string>();

  /** A name as a phone asks for it → the root's file, or why not. */
  const locate = (name: string): { ok: true; file: string } | { ok: false; why: string } => {
    const segs = name.split('/').filter((s) => s !== '' && s !== '.');
    if (segs.includes('..')) return { ok: false, why: `${JSON.stringify(name)} leaves the root` };
    const file = segs.join('/');
    if (files.has(file)) return { ok: true, file };
    const other = byLower.get(file.toLowerCase());
    return { ok: false, why: `${file} is not in the root${other ? ` (${other} is: names are case-sensitive)` : ''}` };
  };
  const readText = async (file: string): Promise<Buffer | string> => {
    read.add(file);
    const b = await view.read(file, MAX_TEXT_BYTES);
    if (b === 'too-large') return `${file} is over ${MAX_TEXT_BYTES} bytes: not a script or settings file`;
    return b ?? `${file} cannot be read`;
  };

  const images = new Map<string, Promise<ImageCheck>>();
  const imageCheck = (file: string) => {
    let p = images.get(file);
    if (!p) {
      read.add(file);
      images.set(file, (p = view.verifyImage(file)));
    }
    return p;
  };
  /**
   * An image named at file:line for a model: present, intact (reported at the image) and for that model; its header
   * when all hold.
   */
  const checkNamedImage = async (name: string, at: { file: string; line: number }, what: string, m: PhoneModel) => {
    const loc = locate(name);
    if (!loc.ok) {
      add(at.file, at.line, 'error', `${what}: ${loc.why}`);
      return undefined;
    }
    const c = await imageCheck(loc.file);
    if (!c.ok) return undefined; // reported at the image itself
    const fit = checkImageFor(c.header, { model: m.name, family: m.family });
    if (!fit.ok) {
      add(at.file, at.line, 'error', `${what}: ${fit.error.message}`);
      return undefined;
    }
    return c.header;
  };

  // ------------------------------------------------------------------------------ Avaya scripts
  const avaya = models.filter((m) => m.files.format === 'avaya-script' && m.script);
  const linted = new Set<string>();
  const lintOnce = async (file: string, variables: readonly string[]): Promise<Buffer | undefined> => {
    const text = await readText(file);
    if (typeof text === 'string') {
      if (!linted.has(file)) add(file, 0, 'error', text);
      linted.add(file);
      return undefined;
    }
    if (!linted.has(file))
      for (const d of lintAvayaScript(file, text, { variables })) add(d.file, d.line, d.severity, d.message);
    linted.add(file);
    return text;
  };
  const scripts = new Set([...avaya.map((m) => m.files.script!), ...[...files].filter((f) => UPGRADE_SCRIPT.test(f))]);
  for (const script of [...scripts].sort()) {
    if (!files.has(script)) continue; // a family this root does not serve
    const users = avaya.filter((m) => m.files.script === script);
    const variables =
      users.length > 0 ? [...new Set(users.flatMap((m) => m.script!.dialect.variables))] : ALL_SCRIPT_VARIABLES;
    const text = await lintOnce(script, variables);
    if (!text) continue;
    for (const m of users) {
      const result = await runAvayaScriptAsync(
        { name: script, text },
        { dialect: m.script!.dialect, variables: scriptVariables(m, CHECK_MAC) },
        async (name) => {
          const loc = locate(name);
          return loc.ok ? await lintOnce(loc.file, ALL_SCRIPT_VARIABLES) : undefined;
        },
      );
      for (const g of result.gets) {
        if (g.ok || /\$MACADDR/i.test(g.written)) continue;
        // A file that exists failed for a reason reported elsewhere (unreadable, too large, nested too deep).
        const loc = locate(g.file);
        if (!loc.ok) add(g.from, g.line, 'error', `GET ${g.file}: ${loc.why}`);
      }
      for (const w of result.warnings) {
        if (/nested GETs/.test(w.message)) add(w.file, w.line, 'error', w.message);
        // A loop the linter proved is reported once, at its GOTO; where the run stopped varies by model.
        const proven = [...diags.values()].some((d) => d.file === w.file && d.message.includes('loops forever'));
        if (w.message.startsWith('stopped after') && !proven) add(w.file, w.line, 'error', w.message);
      }
      if (result.appName === undefined) {
        add(
          script,
          0,
          'warning',
          `no SET APPNAME for the ${m.name} (MODEL4 ${m.script!.variables['MODEL4']}): it keeps the ` +
            `application it runs`,
        );
      } else {
        await checkNamedImage(result.appName, result.appNameAt!, `SET APPNAME ${result.appName} (the ${m.name})`, m);
      }
    }
  }

  // --------------------------------------------------------------------- 1200 provisioning files
  const sip1200 = models.filter((m) => m.files.format === 'sip1200-provisioning');
  const provisioning = new Set([
    ...sip1200.map((m) => m.files.script!),
    ...[...files].filter((f) => SIP1200_PROVISIONING.test(f)),
  ]);
  for (const name of [...provisioning].sort()) {
    if (!files.has(name)) continue;
    const text = await readText(name);
    if (typeof text === 'string') {
      add(name, 0, 'error', text);
      continue;
    }
    const parsed = parseSip1200Provisioning(text);
    for (const p of parsed.problems) add(name, p.line, p.severity, p.message);
    const named = sip1200.filter((m) => m.files.script === name);
    const users = named.length > 0 ? named : sip1200;
    for (const s of parsed.sections) {
      if (s.keys.has('SERVER_IP')) continue; // on another server: not checked here
      for (const f of sectionFiles(s)) {
        if (s.name === 'FW') continue; // below, with its header
        const loc = locate(f.value);
        if (!loc.ok) add(name, f.line, 'error', `[${s.name}] FILENAME ${f.value}: ${loc.why}`);
      }
    }
    const fw = fwDirective(parsed);
    if (fw && fw.serverIp === undefined) {
      for (const m of users) {
        const header = await checkNamedImage(
          fw.filename,
          { file: name, line: fw.filenameLine },
          `[FW] FILENAME ${fw.filename} (the ${m.name})`,
          m,
        );
        if (header && header.version !== fw.version) {
          add(
            name,
            fw.filenameLine,
            'warning',
            `[FW] VERSION is ${fw.version} but ${fw.filename}'s header says ${header.version}`,
          );
        }
      }
    }
  }

  // ------------------------------------------------------------------------------------ 400HD
  for (const m of models.filter((x) => x.files.format === 'audiocodes-url')) {
    const img = `${m.name}.img`;
    if (files.has(img)) {
      const c = await imageCheck(img);
      if (c.ok) {
        const fit = checkImageFor(c.header, { model: m.name, family: m.family });
        if (!fit.ok) add(img, 0, 'error', `the ${m.name} reads ${img}: ${fit.error.message}`);
      }
    }
    const cfgName = `${m.name}.cfg`;
    if (files.has(cfgName)) {
      const text = await readText(cfgName);
      if (typeof text === 'string') add(cfgName, 0, 'error', text);
      else {
        const cfg = parseAudiocodesCfg(text);
        for (const w of cfg.warnings) add(cfgName, w.line, 'warning', w.message);
        const fit = checkCfgModel(cfg, m.name);
        if (!fit.ok) add(cfgName, fit.problem.line, 'error', fit.problem.message);
      }
    }
  }

  // ------------------------------------------------------------------------------ bootwire.json
  if (files.has('bootwire.json')) await checkBootwireJson(view, readText, locate, add, models);

  // ------------------------------------------------------------------------- every image intact
  for (const f of [...files].sort()) {
    if (images.has(f)) continue;
    // Started here, awaited in the loop below (verifyImage reports read errors in its result, never rejects).
    if (/\.img$/i.test(f)) void imageCheck(f);
    else {
      const head = await view.head(f, IMAGE_MAGIC.length);
      if (head && head.subarray(0, 5).equals(IMAGE_MAGIC.subarray(0, 5))) void imageCheck(f);
    }
  }
  for (const [f, p] of images) {
    const c = await p;
    if (!c.ok) add(f, 0, 'error', `${c.error.message} [${c.error.code}]`);
  }

  if (view.truncated !== undefined)
    add('.', 0, 'warning', `more than ${view.truncated} files: the rest were not checked`);
  const diagnostics = [...diags.values()].sort((a, b) =>
    a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line,
  );
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  return { diagnostics, errors, warnings: diagnostics.length - errors, filesChecked: read.size };
}

/** The line of the first occurrence of `needle` in `text` (1-based), or 0. */
function lineOf(text: string, needle: string): number {
  const i = text.indexOf(needle);
  return i < 0 ? 0 : text.slice(0, i).split('\n').length;
}

async function checkBootwireJson(
  view: RootView,
  readText: (f: string) => Promise<Buffer | string>,
  locate: (name: string) => { ok: true; file: string } | { ok: false; why: string },
  add: (file: string, line: number, severity: Diagnostic['severity'], message: string) => void,
  models: readonly PhoneModel[],
): Promise<void> {
  const name = 'bootwire.json';
  const raw = await readText(name);
  if (typeof raw === 'string') return add(name, 0, 'error', raw);
  const text = raw.toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const pos = /position (\d+)/.exec((e as Error).message);
    return add(
      name,
      pos ? text.slice(0, Number(pos[1])).split('\n').length : 0,
      'error',
      `not valid JSON: ${(e as Error).message}`,
    );
  }
  const dir = view.dir ?? '/';
  let cfg: BootwireConfig;
  try {
    cfg = parseConfig(doc, dir);
    if (cfg.dhcp) compileDhcpConfig(cfg.dhcp, []);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof DhcpConfigError) return add(name, 0, 'error', e.message);
    throw e;
  }
  if (view.dir !== undefined && cfg.root !== undefined && path.resolve(cfg.root) !== path.resolve(view.dir)) {
    return add(
      name,
      lineOf(text, '"root"'),
      'warning',
      `serves ${cfg.root}, not this root: its file names are not checked here`,
    );
  }
  // Option 160 URLs (AudioCodes): the files they name, for every 400HD model.
  const hd = models.filter((m) => m.files.format === 'audiocodes-url');
  const groups = [...(cfg.dhcp?.subnets ?? []), ...(cfg.dhcp?.classes ?? [])];
  for (const g of groups) {
    for (const [key, value] of Object.entries(g.options)) {
      if (lookupOption(key)?.code !== 160 || typeof value !== 'string') continue;
      const line = lineOf(text, JSON.stringify(value));
      for (const m of hd) {
        const r = parseProvisioningUrl(value, { model: m.name, mac: CHECK_MAC });
        if (!r.ok) {
          add(name, line, 'error', `option 160 ${JSON.stringify(value)}: ${r.error}`);
          break;
        }
        const wanted = [
          r.url.directory + r.url.image,
          ...(/<mac>/i.test(value) || !r.url.configGiven ? [] : [r.url.directory + r.url.config]),
        ];
        for (const f of wanted) {
          const loc = locate(f);
          if (!loc.ok) add(name, line, 'error', `option 160 for the ${m.name}: ${loc.why}`);
        }
      }
    }
  }
}

// ------------------------------------------------------------------------------------ filesystem

/** Hidden files and directories are skipped; so is anything past `maxFiles` or 8 levels deep. */
export async function fsRootView(dir: string, maxFiles = 20_000): Promise<RootView> {
  const root = await fs.realpath(dir);
  const out: string[] = [];
  let truncated: number | undefined;
  const walk = async (rel: string, depth: number): Promise<void> => {
    if (depth > 8 || truncated !== undefined) return;
    let entries;
    try {
      entries = await fs.readdir(path.join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const st = await fs.stat(path.join(root, r)).catch(() => undefined);
        const real = await fs.realpath(path.join(root, r)).catch(() => '');
        // Served only when it stays inside the root (src/files/root.ts).
        if (!st || !(real === root || real.startsWith(root + path.sep))) continue;
        isDir = st.isDirectory();
        isFile = st.isFile();
      }
      if (isDir) await walk(r, depth + 1);
      else if (isFile) {
        if (out.length >= maxFiles) {
          truncated = maxFiles;
          return;
        }
        out.push(r);
      }
    }
  };
  await walk('', 0);
  const full = (name: string) => path.join(root, ...name.split('/'));
  return {
    files: out,
    dir: root,
    ...(truncated !== undefined ? { truncated } : {}),
    async read(name, maxBytes) {
      try {
        const st = await fs.stat(full(name));
        if (st.size > maxBytes) return 'too-large';
        return await fs.readFile(full(name));
      } catch {
        return undefined;
      }
    },
    async head(name, n) {
      let fh: fs.FileHandle | undefined;
      try {
        fh = await fs.open(full(name), 'r');
        const b = Buffer.alloc(n);
        const { bytesRead } = await fh.read(b, 0, n, 0);
        return b.subarray(0, bytesRead);
      } catch {
        return undefined;
      } finally {
        await fh?.close().catch(() => {});
      }
    },
    async verifyImage(name) {
      const v = new ImageVerifier();
      let fh: fs.FileHandle | undefined;
      try {
        fh = await fs.open(full(name), 'r');
        const chunk = Buffer.alloc(1 << 20);
        for (;;) {
          const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
          if (bytesRead === 0) break;
          v.update(chunk.subarray(0, bytesRead));
        }
      } catch (e) {
        return {
          ok: false,
          error: {
            code: 'short',
            message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          },
        };
      } finally {
        await fh?.close().catch(() => {});
      }
      return v.finish();
    },
  };
}

/** Checks a root directory. Throws only when `dir` is not a readable directory. */
export async function checkRoot(dir: string, models: readonly PhoneModel[] = PHONE_MODELS): Promise<CheckResult> {
  const st = await fs.stat(dir).catch(() => undefined);
  if (!st) throw new Error(`${dir} does not exist`);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
  return checkRootView(await fsRootView(dir), models);
}

/**
 * `file:line: message` (warnings say so); `file: message` for the file as a whole. Control characters
 * (a hostile file's bytes quoted in a message) are shown as `?`, so they cannot drive the terminal.
 */
export function formatDiagnostic(d: Diagnostic): string {
  const line = `${d.file}${d.line > 0 ? `:${d.line}` : ''}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`;
  return line.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, '?');
}
