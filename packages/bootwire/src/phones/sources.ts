/**
 * Where the phone facts come from. Every fact in `models.ts` names one of these; a value that no
 * manual page confirmed is marked `UNVERIFIED` and can be changed with `customizeModel`.
 *
 * The seed excerpts live in `../shared/seeds/` and the gathered facts in `../shared/reference/phones.md`
 * (relative to the project root). A few facts come from other public pages of the same vendor manuals
 * (found while writing this module); those are named by manual, not by file.
 */

export const SEED_4600 =
  'seeds/000_dec4fcf2101c1eb4.txt (Avaya 4600 LAN Administrator Guide, "Step 3: Telephone and File Server")';
export const SEED_1600 =
  'seeds/001_62a79a28ef37cb21.txt (Avaya 1600 Administrator Guide, "Telephone Initialization Process")';
export const SEED_9600 = 'seeds/002_368b95a88f59a109.txt (9600 Series SIP Administrator Guide R2.0, p. 22)';
export const SEED_1200 =
  'seeds/003_a89362a191675b29.txt (SIP Software for Avaya 1200 Series, ch. 6 "Creating the provisioning files")';
export const SEED_400HD = "seeds/004_ca410a240168c769.txt (AudioCodes 400HD Administrator's Manual 2.2.8, ch. 7)";

/** A section of reference/phones.md. */
export const ref = (section: string): string => `reference/phones.md, ${section}`;

/** Public manual pages beyond the seeds (quoted in docs/phones.md). */
export const MANUAL_4600_R22 =
  'Avaya 4600 Series IP Telephone R2.2 LAN Administrator Guide, "DHCP" and "Contents of the Upgrade Script"';
export const MANUAL_1600_INSTALL =
  'Avaya 1600 Series IP Telephones Installation and Maintenance Guide, "Contents of the settings ' + 'file"';
export const MANUAL_1603_ADMIN = 'Avaya 1603SW-I SIP Deskphones Administrator Guide, "DHCP" (option 55, 57)';
export const MANUAL_96X1_SIP =
  'Administering Avaya 9601/9608/9611G IP Deskphones SIP, "DHCPACK setting of parameter values" ' +
  'and "Contents of the settings file"';
export const MANUAL_1200_SIP =
  'SIP Software for Avaya 1200 Series IP Deskphones-Administration, "DHCP options" and "Provisioning file"';

/** A default no manual page confirmed: make it configurable, do not rely on it. */
export const UNVERIFIED = 'unverified default';

export interface Provenance {
  readonly source: string;
  readonly verified: boolean;
}

export const fact = (source: string): Provenance => ({ source, verified: true });
export const unverified = (why = ''): Provenance => ({
  source: why ? `${UNVERIFIED}: ${why}` : UNVERIFIED,
  verified: false,
});
