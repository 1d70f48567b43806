/**
 * The phone directory: which phone (MAC, model) holds which address, as bootwire's DHCP server leased
 * it in this process. The DHCP server feeds it (a PhoneSink: each ACK, and the store's bound leases at
 * start); the file servers consult it per request (a PhoneLookup) to name the phone in transfer
 * records and to pick names per phone. Neither server imports the other: both see only these
 * interfaces, and the application (the CLI, or an embedder) hands one directory to both.
 */

export interface Phone {
  /** aa:bb:cc:dd:ee:ff, lowercase. */
  mac: string;
  /**
   * The model when the vendor class names one (AudioCodes: `440HD`), else the DHCP class's name, else the vendor class.
   */
  model?: string;
  /** The DHCP class the server matched, when one did. */
  className?: string;
  /** Option 60 as sent. */
  vendorClass?: string;
}

export interface LeaseInfo {
  mac: string;
  vendorClass?: string;
  className?: string;
  /** Milliseconds since the epoch; the entry is ignored after it. */
  expiresAt?: number;
}

/** What a DHCP server tells: an address was bound to a client. */
export interface PhoneSink {
  bound(address: string, lease: LeaseInfo): void;
}

/** What a file server asks: the phone at this address, if one is known. */
export interface PhoneLookup {
  phoneAt(address: string): Phone | undefined;
}

/** AudioCodes phones send their model as option 60 (`440HD`); other vendors send a vendor name. */
const MODEL_NAME = /^[0-9]{3,4}[A-Za-z]{0,3}$/;

export function modelOf(vendorClass: string | undefined, className: string | undefined): string | undefined {
  const v = vendorClass?.replace(/\0+$/, '');
  if (v !== undefined && MODEL_NAME.test(v)) return v;
  return className ?? (v ? v : undefined);
}

interface Entry {
  phone: Phone;
  expiresAt: number;
}

export class PhoneDirectory implements PhoneSink, PhoneLookup {
  /** One entry per address (so bounded by the pools): a new lease of an address replaces the old. */
  private readonly byAddress = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  bound(address: string, lease: LeaseInfo): void {
    if (address === '0.0.0.0') return; // an INFORM's ACK leases nothing
    const phone: Phone = { mac: lease.mac.toLowerCase() };
    const model = modelOf(lease.vendorClass, lease.className);
    if (model !== undefined) phone.model = model;
    if (lease.className !== undefined) phone.className = lease.className;
    if (lease.vendorClass !== undefined) phone.vendorClass = lease.vendorClass;
    this.byAddress.set(address, { phone, expiresAt: lease.expiresAt ?? Infinity });
  }

  phoneAt(address: string): Phone | undefined {
    const a = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
    const e = this.byAddress.get(a);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.byAddress.delete(a);
      return undefined;
    }
    return e.phone;
  }

  get size(): number {
    return this.byAddress.size;
  }
}
