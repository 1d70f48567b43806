/**
 * `bootwire check ROOT [--json]`: lints a provisioning root (src/phones/check-root.ts). Prints one
 * `file:line: message` per problem on stdout and a summary on stderr; exits 1 when there are errors, 0
 * when there are none (warnings allowed), 2 on a usage error (no such directory).
 */
import { checkRoot, formatDiagnostic } from '../phones/check-root.js';
import { UsageError } from '@bootwire/core';

export interface CheckFlags {
  json?: boolean;
}

export async function check(root: string, flags: CheckFlags): Promise<void> {
  let result;
  try {
    result = await checkRoot(root);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({ root, errors: result.errors, warnings: result.warnings, diagnostics: result.diagnostics })}` +
        `\n`,
    );
  } else {
    for (const d of result.diagnostics) process.stdout.write(`${formatDiagnostic(d)}\n`);
    process.stderr.write(
      `${root}: ${result.errors} error${result.errors === 1 ? '' : 's'}, ${result.warnings} warning` +
        `${result.warnings === 1 ? '' : 's'} (${result.filesChecked} files read)\n`,
    );
  }
  if (result.errors > 0) process.exitCode = 1;
}
