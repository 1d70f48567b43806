/**
 * The phones in scope, as data: one definition per family, specialised per model. Each model says
 * which file protocols it speaks and in which order, what its DHCP DISCOVER carries, which DHCP fields
 * and options it reads for its file server (highest priority first), the names of its files, how it
 * decides to download an image, its TFTP/HTTP behaviour and its upgrade-script variables.
 *
 * Every fact names its source in `provenance` (see sources.ts); values marked unverified are defaults
 * no manual page confirmed: change them with `customizeModel`, do not build on them.
 */
import type { PhoneIdentity } from '@bootwire/dhcp';
import type { ScriptDialect } from './avaya-script.js';
import {
  fact,
  MANUAL_1200_SIP,
  MANUAL_1600_INSTALL,
  MANUAL_1603_ADMIN,
  MANUAL_4600_R22,
  MANUAL_96X1_SIP,
  type Provenance,
  ref,
  SEED_1200,
  SEED_1600,
  SEED_400HD,
  SEED_4600,
  SEED_9600,
  unverified,
} from './sources.js';

export type FileProtocol = 'tftp' | 'http' | 'https' | 'ftp';

export type FamilyId = 'avaya-4600' | 'avaya-1600' | 'avaya-9600-sip' | 'avaya-1200-sip' | 'audiocodes-400hd';

/**
 * Where in a DHCP ACK a phone looks for its file server:
 * - 'site-specific': the Avaya NAME=value option (176 or 242, `dhcp.siteSpecificOption`);
 * - 'avaya-43': option 43 whose sub-option 1 is "6889";
 * - 'siaddr': the BOOTP next-server field, when non-zero (Avaya: becomes HTTPSRVR);
 * - 'option-66': TFTP server name (an address, or a URL for the 1200 and 400HD); with 67 for the 400HD;
 * - 'option-160': AudioCodes provisioning URL;
 * - 'option-43-url': option 43 as a provisioning URL (400HD).
 * No family here reads option 150 (Cisco's TFTP server address list).
 */
export type FileServerSource = 'site-specific' | 'avaya-43' | 'siaddr' | 'option-66' | 'option-160' | 'option-43-url';

/** What the phone sends in DISCOVER/REQUEST. */
export interface DhcpRequest {
  /** Option 55, in the phone's order. */
  readonly parameterRequestList: readonly number[];
  /** Option 57. */
  readonly maxMessageSize?: number;
  /** Option 60. */
  readonly vendorClass?: string;
  /** Option 60 sent with a trailing NUL. */
  readonly vendorClassNul: boolean;
  /** Option 77, as one plain string. */
  readonly userClass?: string;
  /** Option 61: hardware type 1 + MAC. */
  readonly clientIdIsMac: boolean;
  /** Option 12; `<MAC>` becomes the MAC as `hostnameMacFormat`. */
  readonly hostname?: string;
  readonly hostnameMacFormat: MacFormat;
  /** The Avaya site-specific option number (SSON) it asks for and reads. */
  readonly siteSpecificOption?: 176 | 242;
  /** An OFFER without option 51 is ignored. */
  readonly requireLeaseTime: boolean;
  /** 'first' OFFER, or the 'longest-lease' among those within `offerWaitMs`. */
  readonly offerSelection: 'first' | 'longest-lease';
  readonly offerWaitMs?: number;
}

/**
 * How the phone decides that the image on the server differs from what it runs:
 * - 'name-differs': the application file named by the script (APPNAME) is not the one it runs;
 * - 'version-differs': the version (from the file name, or the image header) differs;
 * - 'version-higher-or-forced': 1200 [FW]: AUTO downloads only a higher VERSION, FORCED always.
 */
export type ImageDecision = 'name-differs' | 'version-differs' | 'version-higher-or-forced';

export type MacFormat = 'colon-lower' | 'hex-lower' | 'hex-upper';

export type ProvisioningFormat = 'avaya-script' | 'sip1200-provisioning' | 'audiocodes-url';

export interface PhoneModel {
  /** What `--model` takes: `4610`, `1608`, `9608`, `1230`, `440HD`. */
  readonly name: string;
  /** Other spellings accepted by findModel (`9611G`). */
  readonly aliases: readonly string[];
  readonly family: FamilyId;
  readonly familyName: string;
  readonly vendor: 'Avaya' | 'AudioCodes';
  readonly protocols: {
    /** Tried in this order, when the DHCP answer (or script) offers a server for them. */
    readonly order: readonly FileProtocol[];
    /** After a working HTTP server the phone never falls back to TFTP (4600). */
    readonly noTftpAfterHttp: boolean;
  };
  readonly dhcp: DhcpRequest;
  /** Highest priority first: a source listed earlier overrides a later one. */
  readonly fileServerSources: readonly FileServerSource[];
  readonly files: {
    readonly format: ProvisioningFormat;
    /** The first file fetched: upgrade script or provisioning file (none for the 400HD: it starts with the image). */
    readonly script?: string;
    /** The settings/configuration file; `<MAC>`/`<MODEL>` are filled in per phone. */
    readonly settings: string;
    /** How `<MAC>` is spelled in `settings` (`SIP00040DAABB01.cfg`, `00040daabb01.cfg`). */
    readonly settingsMacFormat: MacFormat;
    /** The data file a BRURI backup goes to, `<EXT>` the phone's extension; absent: the model makes no backups. */
    readonly backup?: string;
    /** The application image the example root gives this model. */
    readonly image: string;
    readonly imageVersion: string;
  };
  readonly image: {
    readonly decision: ImageDecision;
    /** Where the version compared comes from. */
    readonly versionFrom: 'file-name' | 'header' | 'provisioning-file';
    /** A realistic size for generated example images. */
    readonly typicalBytes: number;
  };
  readonly script?: {
    readonly dialect: ScriptDialect;
    /** Values of the script variables, MACADDR excepted (it comes from the MAC, as `macFormat`). */
    readonly variables: Readonly<Record<string, string>>;
    readonly macFormat: MacFormat;
  };
  readonly tftp: {
    /** RFC 2347 options the phone's RRQ carries (most ask for none). */
    readonly options: Readonly<Record<string, string>>;
    readonly timeoutMs: number;
    readonly retries: number;
    /** The whole image download is abandoned after this long. */
    readonly imageDeadlineMs?: number;
  };
  readonly http: { readonly timeoutMs: number; readonly retries: number };
  /** Field path (`dhcp.vendorClass`) → where the value comes from. */
  readonly provenance: Readonly<Record<string, Provenance>>;
}

// ------------------------------------------------------------------------------------------ helpers

/** `00:04:0d:aa:bb:01` in the given format; undefined when it is not a 6-byte MAC. */
export function formatMac(mac: string, format: MacFormat): string | undefined {
  const hex = mac.replace(/[-:.\s]/g, '');
  if (!/^[0-9a-fA-F]{12}$/.test(hex)) return undefined;
  const lower = hex.toLowerCase();
  if (format === 'hex-lower') return lower;
  if (format === 'hex-upper') return lower.toUpperCase();
  return lower.replace(/..(?!$)/g, '$&:'); // aa:bb:cc:dd:ee:ff
}

/** Fills `<MODEL>` and `<MAC>` (case-insensitive macros, as in 400HD URLs) in a file name template. */
export function expandTemplate(template: string, model: string, mac: string | undefined, macFormat: MacFormat): string {
  return template.replace(/<(MODEL|MAC)>/gi, (_, k: string) =>
    k.toUpperCase() === 'MODEL' ? model : ((mac && formatMac(mac, macFormat)) ?? '<MAC>'),
  );
}

const TFTP_TIMEOUT = unverified(
  'phones expect a TFTP answer within about 2 s (reference/phones.md, "The common flow"); retries not documented',
);
const IMAGE_SIZE = unverified('reference/phones.md gives 1-40 MB for images; no per-model size documented');

// -------------------------------------------------------------------------------------- Avaya 4600

const AVAYA_4600_BASE = {
  family: 'avaya-4600',
  familyName: 'Avaya 4600 (H.323)',
  vendor: 'Avaya',
  protocols: { order: ['https', 'http', 'tftp'], noTftpAfterHttp: true },
  dhcp: {
    parameterRequestList: [1, 3, 6, 15, 58, 59, 66, 176],
    maxMessageSize: 576,
    vendorClassNul: false,
    clientIdIsMac: true,
    hostnameMacFormat: 'hex-lower',
    siteSpecificOption: 176,
    requireLeaseTime: false,
    offerSelection: 'first',
  },
  fileServerSources: ['site-specific', 'option-66'],
  image: { decision: 'name-differs', versionFrom: 'file-name', typicalBytes: 1_500_000 },
  tftp: { options: {}, timeoutMs: 2000, retries: 5 },
  http: { timeoutMs: 5000, retries: 2 },
  provenance: {
    protocols: fact(
      `${SEED_4600}: "A telephone that supports HTTP will attempt to access the HTTP server (if administered), ` +
        'and, if successful, will not attempt to access the TFTP server"; HTTPS: "a TLS server is contacted first"',
    ),
    'dhcp.parameterRequestList': unverified(
      `the options the 4600 reads (${MANUAL_4600_R22}: 1, 3, 6, 15, 58, 59, 66, SSON 176); the request list ` +
        'itself is not documented',
    ),
    'dhcp.maxMessageSize': unverified('576, the RFC 2131 minimum, as the 1600 before R2.5'),
    'dhcp.vendorClass': unverified('no option 60 documented for the 4600'),
    'dhcp.siteSpecificOption': fact(`${ref('"Avaya 4600 (H.323)"')}: site-specific option 176`),
    'dhcp.clientIdIsMac': unverified(),
    fileServerSources: fact(
      `${MANUAL_4600_R22}: "If you use both Option 66 and Option 176 to identify TFTP servers, the value(s) in ` +
        'Option 176 overrides the value(s) in Option 66"',
    ),
    'files.script': fact(`${ref('"Avaya 4600 (H.323)"')}: 46xxupgrade.scr, 46xxsettings.txt`),
    'files.image': fact(
      `${ref('"The Avaya upgrade-script language"')}: example "SET APPNAME a10d01b2_3.bin" for the 4610 (the ` +
        `4620's a20d01b2_3.bin is by analogy, unverified)`,
    ),
    'image.decision': fact(
      `${ref('"Avaya 4600 (H.323)"')}: downloads the application file when its name differs from the one it ` +
        `runs; ${SEED_4600}`,
    ),
    'image.typicalBytes': IMAGE_SIZE,
    'script.dialect': fact(
      `${ref('"The Avaya upgrade-script language"')}: SEQ case-insensitive in the 4600 R2.2 manual; a failed GET ` +
        `ends the script file (${MANUAL_4600_R22}: "interpretation of the rest of the current script file is ` +
        'terminated")',
    ),
    'script.dialect.get': unverified(
      'that the issuing file continues after a successful GET ("its contents are interpreted as an additional ' +
        'script file")',
    ),
    'script.variables': unverified(
      'MODEL values (4610SW, 4620SW), GROUP default 0; MODEL4 is the first four characters of MODEL',
    ),
    'script.macFormat': unverified('MACADDR spelling'),
    tftp: TFTP_TIMEOUT,
    http: unverified(),
  },
} as const;

const DIALECT_4600: ScriptDialect = {
  seqCaseInsensitive: true,
  get: 'avaya-4600',
  variables: ['GROUP', 'MACADDR', 'MODEL', 'MODEL4', 'BOOTNAME', 'SIG'],
};

function avaya4600(name: string, model: string, image: string): PhoneModel {
  return {
    ...AVAYA_4600_BASE,
    name,
    aliases: [model],
    files: {
      format: 'avaya-script',
      script: '46xxupgrade.scr',
      settings: '46xxsettings.txt',
      settingsMacFormat: 'hex-lower',
      image,
      imageVersion: '2.3',
    },
    script: {
      dialect: DIALECT_4600,
      variables: { GROUP: '0', MODEL: model, MODEL4: model.slice(0, 4) },
      macFormat: 'colon-lower',
    },
  };
}

// -------------------------------------------------------------------------------------- Avaya 1600

const DIALECT_1600: ScriptDialect = {
  seqCaseInsensitive: true,
  get: 'avaya-96xx',
  variables: ['GROUP', 'MACADDR', 'MODEL', 'MODEL4', 'BOOTNAME', 'SIG'],
};

const AVAYA_1608: PhoneModel = {
  name: '1608',
  aliases: ['1608-I'],
  family: 'avaya-1600',
  familyName: 'Avaya 1600',
  vendor: 'Avaya',
  protocols: { order: ['https', 'http'], noTftpAfterHttp: true },
  dhcp: {
    parameterRequestList: [1, 3, 6, 7, 15, 26, 42, 242],
    maxMessageSize: 1000,
    vendorClassNul: false,
    clientIdIsMac: true,
    hostnameMacFormat: 'hex-lower',
    siteSpecificOption: 242,
    requireLeaseTime: false,
    offerSelection: 'first',
  },
  fileServerSources: ['site-specific', 'siaddr'],
  files: {
    format: 'avaya-script',
    script: '16xxupgrade.txt',
    settings: '46xxsettings.txt',
    settingsMacFormat: 'hex-lower',
    backup: '<EXT>_16xxdata.txt',
    image: 'ha16xxua1_5_0.bin',
    imageVersion: '1.5.0',
  },
  image: { decision: 'version-differs', versionFrom: 'file-name', typicalBytes: 3_000_000 },
  script: { dialect: DIALECT_1600, variables: { GROUP: '0', MODEL: '1608', MODEL4: '1608' }, macFormat: 'colon-lower' },
  tftp: { options: {}, timeoutMs: 2000, retries: 5 },
  http: { timeoutMs: 5000, retries: 2 },
  provenance: {
    protocols: fact(
      `${SEED_1600}: "can download script files and settings files from either an HTTP or HTTPS server"; no TFTP`,
    ),
    'dhcp.parameterRequestList': fact(
      `${ref('"Avaya 1600"')}: option 55 list 1,3,6,7,15,26,42 plus the site-specific option; ${MANUAL_1603_ADMIN}`,
    ),
    'dhcp.maxMessageSize': fact(`${ref('"Avaya 1600"')}: option 57 1000 from R2.5, 576 before`),
    'dhcp.vendorClass': unverified('no option 60 documented for the 1600'),
    'dhcp.siteSpecificOption': fact(`${ref('"Avaya 1600"')}: the site-specific option (242)`),
    fileServerSources: unverified(
      'siaddr as HTTPSRVR is documented for the 96xx (reference/phones.md), assumed for the 1600; 242 overrides',
    ),
    'files.script': fact(`${ref('"Avaya 1600"')}: 16xxupgrade.txt, 46xxsettings.txt`),
    'files.image': unverified('image file name and version (following the ha96xxua3_2_0_S.bin convention)'),
    'image.decision': fact(
      `${ref('"Avaya 1600"')}: "Downloads the application when the server's version is different"; ${SEED_1600}`,
    ),
    'image.typicalBytes': IMAGE_SIZE,
    'script.dialect': fact(
      `${MANUAL_1600_INSTALL}: SEQ "case-insensitive equivalent"; "If the file cannot be obtained, the telephone ` +
        `continues processing the upgrade script file"; ${ref('"The Avaya upgrade-script language"')}: a ` +
        'successful GET stops the issuing file on 96xx/16xx',
    ),
    'script.variables': unverified('MODEL 1608, GROUP default 0'),
    'script.macFormat': unverified('MACADDR spelling'),
    tftp: TFTP_TIMEOUT,
    http: unverified(),
  },
};

// ---------------------------------------------------------------------------------- Avaya 9600 SIP

const DIALECT_9600: ScriptDialect = {
  seqCaseInsensitive: false,
  get: 'avaya-96xx',
  variables: ['GROUP', 'MACADDR', 'MODEL', 'MODEL4', 'BOOTNAME', 'SIG', 'VPNACTIVE', 'SIG_IN_USE', 'HWVERS'],
};

const AVAYA_9600_PROVENANCE: Readonly<Record<string, Provenance>> = {
  protocols: fact(
    `${SEED_9600}: "can download script files, binary files, certificates, language files, and settings files ` +
      'from either an HTTP or HTTPS server"',
  ),
  'dhcp.parameterRequestList': unverified(
    'the 1600 list plus 43 and 242: the 96xx reads option 43 (6889) and 242 (reference/phones.md); its request ' +
      'list is not documented',
  ),
  'dhcp.maxMessageSize': unverified('1000, as the 1600 from R2.5'),
  'dhcp.vendorClass': unverified(
    `ccp.avaya.com is documented for later Avaya models (${ref('"Avaya 9600 SIP / 96x1"')})`,
  ),
  'dhcp.siteSpecificOption': fact(`${ref('"Avaya 9600 SIP / 96x1"')}: option 242`),
  'dhcp.requireLeaseTime': fact(
    `${ref('"Avaya 9600 SIP / 96x1"')}: "An OFFER without option 51 (lease time) is rejected"; ${MANUAL_96X1_SIP}`,
  ),
  fileServerSources: fact(
    `${MANUAL_96X1_SIP}: HTTPSRVR is "the siaddr field, if that field is non-zero"; "the DHCP site-specific ` +
      'option is processed after the DHCP fields and standard options"; option 43 with 6889 from ' +
      `${ref('"Avaya 9600 SIP / 96x1"')}. The rank of 43 against 242 is unverified (242 assumed last, so it wins).`,
  ),
  'files.script': fact(
    `${ref('"Avaya 9600 SIP / 96x1"')}: 96xxupgrade.txt; 96x1: 96x1Supgrade.txt (SIP) or 96x1Hupgrade.txt (H.323)`,
  ),
  'files.image': unverified(
    'ha96xxua3_2_0_S.bin is the naming example of issue 6; the 96x1 name S96x1_SALBR7_1_2_0.tar follows Avaya ' +
      'bundle names, unverified',
  ),
  'image.decision': fact(
    `${SEED_9600}: "If the telephone determines the proper binary file is missing, the telephone requests a ` +
      'binary file download"',
  ),
  'image.typicalBytes': IMAGE_SIZE,
  'script.dialect': fact(
    `${MANUAL_96X1_SIP}: SEQ "exactly matches"; GET: "if it is successfully obtained, it will be interpreted as ` +
      'an additional settings file, and no additional lines will be interpreted in the original file. If the file ' +
      'cannot be obtained, the deskphone will continue to interpret the original file"; variables GROUP, MACADDR, ' +
      'MODEL, MODEL4, BOOTNAME and SIG (pre-6.0), VPNACTIVE (3.1+), SIG_IN_USE (6.0+); HWVERS from ' +
      `${ref('"The Avaya upgrade-script language"')}`,
  ),
  'script.variables': unverified('MODEL (9608, 9611G, 9620, 9640), SIG 2, SIG_IN_USE SIP, HWVERS, GROUP default 0'),
  'script.macFormat': unverified('MACADDR spelling'),
  tftp: unverified('the 9600 SIP does not use TFTP'),
  http: unverified(),
};

function avaya9600(
  name: string,
  model: string,
  aliases: string[],
  script: string,
  image: string,
  imageVersion: string,
  typicalBytes: number,
): PhoneModel {
  return {
    name,
    aliases,
    family: 'avaya-9600-sip',
    familyName: 'Avaya 9600 SIP (96xx, 96x1)',
    vendor: 'Avaya',
    protocols: { order: ['https', 'http'], noTftpAfterHttp: true },
    dhcp: {
      parameterRequestList: [1, 3, 6, 7, 15, 26, 42, 43, 242],
      maxMessageSize: 1000,
      vendorClass: 'ccp.avaya.com',
      vendorClassNul: false,
      clientIdIsMac: true,
      hostnameMacFormat: 'hex-lower',
      siteSpecificOption: 242,
      requireLeaseTime: true,
      offerSelection: 'first',
    },
    fileServerSources: ['site-specific', 'avaya-43', 'siaddr'],
    files: {
      format: 'avaya-script',
      script,
      settings: '46xxsettings.txt',
      settingsMacFormat: 'hex-lower',
      backup: '<EXT>_96xxdata.txt',
      image,
      imageVersion,
    },
    image: { decision: 'name-differs', versionFrom: 'file-name', typicalBytes },
    script: {
      dialect: DIALECT_9600,
      variables: {
        GROUP: '0',
        MODEL: model,
        MODEL4: model.slice(0, 4),
        SIG: '2',
        SIG_IN_USE: 'SIP',
        VPNACTIVE: '0',
        HWVERS: `${model.slice(0, 4)}D01A`,
      },
      macFormat: 'colon-lower',
    },
    tftp: { options: {}, timeoutMs: 2000, retries: 5 },
    http: { timeoutMs: 5000, retries: 2 },
    provenance: AVAYA_9600_PROVENANCE,
  };
}

// ---------------------------------------------------------------------------------- Avaya 1200 SIP

function avaya1200(name: string): PhoneModel {
  return {
    name,
    aliases: [],
    family: 'avaya-1200-sip',
    familyName: 'Avaya 1200 SIP (formerly Nortel)',
    vendor: 'Avaya',
    protocols: { order: ['tftp', 'ftp', 'http', 'https'], noTftpAfterHttp: false },
    dhcp: {
      parameterRequestList: [
        1, 3, 6, 15, 28, 43, 58, 59, 66, 224, 227, 230, 232, 235, 238, 241, 244, 247, 249, 251, 254,
      ],
      maxMessageSize: 1190,
      vendorClass: 'Nortel-SIP-Phone-A',
      vendorClassNul: true,
      clientIdIsMac: true,
      hostname: 'T<MAC>',
      hostnameMacFormat: 'hex-upper',
      requireLeaseTime: false,
      offerSelection: 'longest-lease',
      offerWaitMs: 1000,
    },
    fileServerSources: ['option-66'],
    files: {
      format: 'sip1200-provisioning',
      script: `${name}SIP.cfg`,
      settings: 'SIP<MAC>.cfg',
      settingsMacFormat: 'hex-upper',
      image: 'SIP12x004.04.09.00.bin',
      imageVersion: 'SIP12x004.04.09.00',
    },
    image: { decision: 'version-higher-or-forced', versionFrom: 'provisioning-file', typicalBytes: 6_000_000 },
    tftp: { options: {}, timeoutMs: 2000, retries: 5, imageDeadlineMs: 600_000 },
    http: { timeoutMs: 5000, retries: 2 },
    provenance: {
      protocols: fact(
        `${ref('"Avaya 1200 series SIP"')}: "Provisioning over TFTP (default), FTP or HTTP(S)"; ${SEED_1200}`,
      ),
      'dhcp.parameterRequestList': fact(
        `${ref('"Avaya 1200 series SIP"')}: option 55 includes 1,3,6,15,28,43,58,59,66 and site options; ` +
          `${MANUAL_1200_SIP}: site options 224, 227, ..., 254`,
      ),
      'dhcp.maxMessageSize': fact(`${ref('"Avaya 1200 series SIP"')}: option 57 = 1190`),
      'dhcp.vendorClass': fact(`${ref('"Avaya 1200 series SIP"')}: option 60 Nortel-SIP-Phone-A (NUL-terminated)`),
      'dhcp.clientIdIsMac': fact(`${ref('"Avaya 1200 series SIP"')}: option 61 = MAC`),
      'dhcp.hostname': fact(
        `${MANUAL_1200_SIP}: option 12 "By default, the Hostname is "T"+MAC Address. For example, T001765FDBF1D"`,
      ),
      'dhcp.offerSelection': fact(
        `${ref('"Avaya 1200 series SIP"')}: "Waits 1 s for offers and picks the longest lease"`,
      ),
      fileServerSources: fact(
        `${MANUAL_1200_SIP}: option 66 "If a dotted-decimal IP address is returned, it is assumed to point to a ` +
          'TFTP server. A full URL can also be provided to specify a protocol and FQDN". The Nortel-SIP-Phone-B ' +
          'strings in 43/site options are not modelled.',
      ),
      'files.script': fact(
        `${ref('"Avaya 1200 series SIP"')}: fetches 1230SIP.cfg (model-named, 12x0SIP.cfg); [USER_CONFIG] leads ` +
          `to SIP<MAC>.cfg; ${SEED_1200}`,
      ),
      'files.image': unverified("FW file name; the version SIP12x004.04.09.00 is the manual's example"),
      'files.settings': unverified(
        "the MAC spelling in SIP<MAC>.cfg (upper-case hex, as the manual's host name example)",
      ),
      'image.decision': fact(
        `${ref('"Avaya 1200 series SIP"')}: DOWNLOAD_MODE AUTO only when VERSION is higher than the stored one; ` +
          'FORCED always',
      ),
      'image.typicalBytes': IMAGE_SIZE,
      'tftp.imageDeadlineMs': fact(
        `${MANUAL_1200_SIP}: over TFTP the round trip must be under 75 ms; the phone aborts a software download ` +
          'that takes 10 minutes',
      ),
      tftp: TFTP_TIMEOUT,
      http: unverified(),
    },
  };
}

// ------------------------------------------------------------------------------- AudioCodes 400HD

function audiocodes400(name: string): PhoneModel {
  return {
    name,
    aliases: [],
    family: 'audiocodes-400hd',
    familyName: 'AudioCodes 400HD',
    vendor: 'AudioCodes',
    protocols: { order: ['tftp', 'http', 'https', 'ftp'], noTftpAfterHttp: false },
    dhcp: {
      parameterRequestList: [1, 3, 6, 15, 42, 43, 66, 67, 160],
      vendorClass: name,
      vendorClassNul: false,
      userClass: name,
      clientIdIsMac: true,
      hostnameMacFormat: 'hex-lower',
      requireLeaseTime: false,
      offerSelection: 'first',
    },
    fileServerSources: ['option-160', 'option-66', 'option-43-url'],
    files: {
      format: 'audiocodes-url',
      settings: '<MAC>.cfg',
      settingsMacFormat: 'hex-lower',
      image: `${name}.img`,
      imageVersion: '2.2.8.64',
    },
    image: { decision: 'version-differs', versionFrom: 'header', typicalBytes: 12_000_000 },
    tftp: { options: {}, timeoutMs: 2000, retries: 5 },
    http: { timeoutMs: 5000, retries: 2 },
    provenance: {
      protocols: fact(
        `${ref('"AudioCodes 400HD"')}: URL proto://host[/firmware.img][;config.cfg], no protocol means TFTP`,
      ),
      'dhcp.parameterRequestList': fact(
        `${SEED_400HD}: "the phone requests for DHCP options 66/67/160"; 43 from ${ref('"AudioCodes 400HD"')}; ` +
          '1, 3, 6, 15, 42 unverified',
      ),
      'dhcp.vendorClass': fact(
        `${SEED_400HD}: "the phone publishes its model name in Option fields 60 and 77 (e.g. 440HD)"`,
      ),
      'dhcp.userClass': fact(
        `${SEED_400HD}: option 77 carries the model name (sent here as a plain string: unverified form)`,
      ),
      'dhcp.vendorClassNul': unverified('no NUL documented'),
      fileServerSources: fact(
        `${ref('"AudioCodes 400HD"')}: "option 160 (a provisioning URL) has priority, then 66+67, then 43"; ` +
          `${SEED_400HD}: "Option 160 providing the provisioning URL or Options 66 and 67 providing the TFTP IP ` +
          'address and firmware file name"',
      ),
      'files.image': fact(
        `${ref('"AudioCodes 400HD"')}: defaults <model>.img and <MAC>.cfg; ${SEED_400HD}: ".img" and ".cfg" ` +
          'extensions only',
      ),
      'files.imageVersion': unverified('version string'),
      'image.decision': fact(
        `${SEED_400HD}: "checks whether new firmware is available by checking the firmware file header. If the ` +
          'version is different from the one currently running on the phone, the phone downloads the complete ' +
          'image"',
      ),
      'image.typicalBytes': IMAGE_SIZE,
      'files.settings': fact(
        `${SEED_400HD}: the configuration is applied "after verifying that the configuration file is related to ` +
          'the phone model"',
      ),
      'files.settings.macFormat': unverified('the MAC spelling in <MAC>.cfg (lower-case hex)'),
      tftp: TFTP_TIMEOUT,
      http: unverified(),
    },
  };
}

// ------------------------------------------------------------------------------------------ catalogue

/** Every model, grouped by family in this order: 4600, 1600, 9600 SIP, 1200 SIP, 400HD. */
export const PHONE_MODELS: readonly PhoneModel[] = [
  avaya4600('4610', '4610SW', 'a10d01b2_3.bin'),
  avaya4600('4620', '4620SW', 'a20d01b2_3.bin'),
  AVAYA_1608,
  avaya9600('9608', '9608', [], '96x1Supgrade.txt', 'S96x1_SALBR7_1_2_0.tar', '7.1.2.0', 16_000_000),
  avaya9600('9611', '9611G', ['9611G'], '96x1Supgrade.txt', 'S96x1_SALBR7_1_2_0.tar', '7.1.2.0', 16_000_000),
  avaya9600('9620', '9620', ['9620L', '9620C'], '96xxupgrade.txt', 'ha96xxua3_2_0_S.bin', '3.2.0', 8_000_000),
  avaya9600('9640', '9640', ['9640G'], '96xxupgrade.txt', 'ha96xxua3_2_0_S.bin', '3.2.0', 8_000_000),
  avaya1200('1220'),
  avaya1200('1230'),
  audiocodes400('420HD'),
  audiocodes400('440HD'),
];

export const PHONE_FAMILIES: readonly {
  readonly id: FamilyId;
  readonly name: string;
  readonly models: readonly string[];
}[] = (() => {
  const out: { id: FamilyId; name: string; models: string[] }[] = [];
  for (const m of PHONE_MODELS) {
    let f = out.find((x) => x.id === m.family);
    if (!f) out.push((f = { id: m.family, name: m.familyName, models: [] }));
    f.models.push(m.name);
  }
  return out;
})();

/** A model by name or alias, case-insensitive (`9608`, `9611G`, `440hd`). */
export function findModel(name: string): PhoneModel | undefined {
  const key = name.trim().toLowerCase();
  return PHONE_MODELS.find((m) => m.name.toLowerCase() === key || m.aliases.some((a) => a.toLowerCase() === key));
}

/** The names `--model` accepts, for usage messages. */
export const MODEL_NAMES: readonly string[] = PHONE_MODELS.map((m) => m.name);

type Patch<T> = {
  -readonly [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? Patch<T[K]> : T[K];
};

/**
 * A copy of a model with some values replaced (nested objects merge; arrays, `script.variables` and
 * `tftp.options` are replaced whole):
 * `customizeModel(m, { dhcp: { vendorClass: 'my-class' }, tftp: { options: { blksize: '1428' } } })`.
 * Replaced values are marked as configured in `provenance`.
 */
export function customizeModel(model: PhoneModel, patch: Patch<PhoneModel>): PhoneModel {
  const changed: string[] = [];
  const merge = (base: unknown, p: unknown, at: string): unknown => {
    if (p === undefined) return base;
    const isObj = (x: unknown) => typeof x === 'object' && x !== null && !Array.isArray(x);
    if (isObj(base) && isObj(p) && at !== 'provenance' && !at.endsWith('variables') && !at.endsWith('options')) {
      const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
      for (const [k, v] of Object.entries(p as Record<string, unknown>))
        out[k] = merge(out[k], v, at ? `${at}.${k}` : k);
      return out;
    }
    changed.push(at);
    return p;
  };
  const merged = merge(model, patch, '') as PhoneModel;
  const provenance = { ...model.provenance };
  for (const at of changed) provenance[at] = { source: 'configured', verified: false };
  return { ...merged, provenance };
}

// -------------------------------------------------------------------------------- per-phone values

/** The script variables of one phone: the model's, MACADDR from the MAC, then `extra` (BOOTNAME, GROUP). */
export function scriptVariables(
  model: PhoneModel,
  mac: string,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const vars: Record<string, string> = { ...(model.script?.variables ?? {}) };
  const macaddr = formatMac(mac, model.script?.macFormat ?? 'colon-lower');
  if (macaddr) vars['MACADDR'] = macaddr;
  return { ...vars, ...extra };
}

/**
 * What the phone puts in its DISCOVER, for the DHCP client (src/dhcp/client). Throws RangeError when
 * `mac` is not a 6-byte MAC (validate user input with formatMac first).
 */
export function dhcpIdentity(model: PhoneModel, mac: string): PhoneIdentity {
  const d = model.dhcp;
  const hex = formatMac(mac, 'hex-lower');
  const colon = formatMac(mac, 'colon-lower');
  if (hex === undefined || colon === undefined) throw new RangeError(`${JSON.stringify(mac)} is not a MAC address`);
  const id: PhoneIdentity = { mac: colon, requestedOptions: [...d.parameterRequestList] };
  if (d.vendorClass !== undefined) {
    id.vendorClass = d.vendorClass;
    if (d.vendorClassNul) id.vendorClassNul = true;
  }
  if (d.userClass !== undefined) id.userClass = d.userClass;
  if (d.maxMessageSize !== undefined) id.maxMessageSize = d.maxMessageSize;
  if (d.clientIdIsMac) id.clientId = Buffer.concat([Buffer.from([1]), Buffer.from(hex, 'hex')]);
  if (d.hostname !== undefined) id.hostname = expandTemplate(d.hostname, model.name, mac, d.hostnameMacFormat);
  return id;
}

/** The model's settings/configuration file for one phone (`SIP00040DAABB01.cfg`, `00040daabb01.cfg`). */
export function settingsFileFor(model: PhoneModel, mac: string): string {
  return expandTemplate(model.files.settings, model.name, mac, model.files.settingsMacFormat);
}
