/**
 * The AudioCodes 400HD configuration file (`.cfg`) and its model check.
 *
 * The phone applies a downloaded configuration only "after verifying that the configuration file is
 * related to the phone model" (seeds/004_ca410a240168c769.txt). How it verifies is not in the sources;
 * bootwire's files (unverified, documented in docs/phones.md) are `key=value` lines, `#` starts a
 * comment line, and the model is the value of `system/type` (e.g. `system/type=440HD`). A file without
 * that key, or with another model, is not applied.
 */

export const MODEL_KEY_400HD = 'system/type';

export interface CfgEntry {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

export interface CfgProblem {
  readonly line: number;
  readonly message: string;
}

export interface AudiocodesCfg {
  readonly entries: readonly CfgEntry[];
  /** The last `system/type` entry. */
  readonly model?: CfgEntry;
  /** Lines that are neither comments nor `key=value` (the phone skips them). */
  readonly warnings: readonly CfgProblem[];
}

const MAX_WARNINGS = 200;

/** Parses `.cfg` text (or bytes, read as UTF-8). Never throws. */
export function parseAudiocodesCfg(input: string | Uint8Array): AudiocodesCfg {
  const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: false }).decode(input);
  const entries: CfgEntry[] = [];
  const warnings: CfgProblem[] = [];
  let model: CfgEntry | undefined;
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    if (eq <= 0 || !/^[A-Za-z0-9_/.\-[\]]+$/.test(key)) {
      if (warnings.length < MAX_WARNINGS)
        warnings.push({ line: i + 1, message: `not a key=value line: ${JSON.stringify(line.slice(0, 60))}` });
      continue;
    }
    const entry = { key, value: line.slice(eq + 1).trim(), line: i + 1 };
    entries.push(entry);
    if (key.toLowerCase() === MODEL_KEY_400HD) model = entry;
  }
  return { entries, ...(model ? { model } : {}), warnings };
}

/** Whether the phone of `model` applies this configuration; the problem (with its line) when not. */
export function checkCfgModel(cfg: AudiocodesCfg, model: string): { ok: true } | { ok: false; problem: CfgProblem } {
  if (!cfg.model)
    return {
      ok: false,
      problem: {
        line: 0,
        message: `no ${MODEL_KEY_400HD}= line: a ${model} cannot tell the file is for it and does not apply it`,
      },
    };
  if (cfg.model.value.toLowerCase() !== model.toLowerCase()) {
    return {
      ok: false,
      problem: {
        line: cfg.model.line,
        message: `${MODEL_KEY_400HD} is ${JSON.stringify(cfg.model.value)}: a ${model} does not apply this file`,
      },
    };
  }
  return { ok: true };
}
