/**
 * How each family decides that the image the server offers differs from the one it runs (models.ts
 * `image.decision`), and the version conventions of Avaya image file names.
 *
 * - 4600 and 9600 SIP: by name: the application file the script names (APPNAME) is not the one the
 *   phone runs (reference/phones.md "Avaya 4600"; seeds/002: "the proper binary file is missing").
 * - 1600: by version: "Downloads the application when the server's version is different"
 *   (reference/phones.md "Avaya 1600"); the version is read from the file name.
 * - 1200 SIP: [FW] DOWNLOAD_MODE AUTO only when VERSION is higher than the stored one; FORCED always.
 * - 400HD: by the version in the image header, read before the download (seeds/004).
 * A phone that runs nothing yet (no stored name or version) always downloads.
 */
import { compareSip1200Versions } from './sip1200-config.js';
import type { PhoneModel } from './models.js';

/**
 * The version in an Avaya image file name: the last run of `_`-separated numbers, e.g.
 * `ha96xxua3_2_0_S.bin` → `3.2.0`, `a10d01b2_3.bin` → `2.3`, `S96x1_SALBR7_1_2_0.tar` → `7.1.2.0`.
 * Undefined when the name has none (`46xxupgrade.scr`).
 */
export function avayaImageVersion(fileName: string): string | undefined {
  const base = fileName.replace(/^.*[/\\]/, '').replace(/\.[A-Za-z0-9]+$/, '');
  const runs = base.match(/[0-9]+(?:_[0-9]+)+/g);
  return runs ? runs[runs.length - 1]!.replaceAll('_', '.') : undefined;
}

/** What the phone runs (from its state); both undefined for a phone that runs nothing yet. */
export interface RunningImage {
  readonly name?: string;
  readonly version?: string;
}

/** What the server offers, as the phone learned it (script, provisioning file or image header). */
export interface OfferedImage {
  readonly name: string;
  /** From the 1200 [FW] VERSION or the 400HD header; for Avaya names, read from the name when absent. */
  readonly version?: string;
  /** 1200 [FW] DOWNLOAD_MODE. */
  readonly mode?: 'AUTO' | 'FORCED';
}

export interface ImageVerdict {
  readonly download: boolean;
  readonly reason: string;
}

/** The family's rule applied to one phone. Pure. */
export function decideImage(model: PhoneModel, running: RunningImage, offered: OfferedImage): ImageVerdict {
  const base = (n: string) => n.replace(/^.*[/\\]/, '');
  switch (model.image.decision) {
    case 'name-differs': {
      if (running.name === undefined) return { download: true, reason: 'runs no application yet' };
      return base(running.name) === base(offered.name)
        ? { download: false, reason: `already runs ${base(offered.name)}` }
        : { download: true, reason: `runs ${base(running.name)}, the script names ${base(offered.name)}` };
    }
    case 'version-differs': {
      const offeredVersion =
        offered.version ?? (model.image.versionFrom === 'file-name' ? avayaImageVersion(offered.name) : undefined);
      const runningVersion =
        running.version ??
        (running.name !== undefined && model.image.versionFrom === 'file-name'
          ? avayaImageVersion(running.name)
          : undefined);
      if (runningVersion === undefined) return { download: true, reason: 'runs no known version yet' };
      if (offeredVersion === undefined) {
        // No version to compare: fall back to the name.
        return running.name !== undefined && base(running.name) === base(offered.name)
          ? { download: false, reason: `already runs ${base(offered.name)}` }
          : { download: true, reason: `no version in ${base(offered.name)}; the name differs` };
      }
      return offeredVersion === runningVersion
        ? { download: false, reason: `already runs version ${runningVersion}` }
        : { download: true, reason: `runs version ${runningVersion}, the server offers ${offeredVersion}` };
    }
    case 'version-higher-or-forced': {
      if (offered.mode === 'FORCED') return { download: true, reason: 'DOWNLOAD_MODE FORCED' };
      if (running.version === undefined) return { download: true, reason: 'no stored version yet' };
      if (offered.version === undefined) return { download: false, reason: 'no VERSION offered' };
      return compareSip1200Versions(offered.version, running.version) > 0
        ? { download: true, reason: `VERSION ${offered.version} is higher than the stored ${running.version}` }
        : {
            download: false,
            reason: `VERSION ${offered.version} is not higher than the stored ${running.version} (AUTO)`,
          };
    }
  }
}
