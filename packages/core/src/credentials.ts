/**
 * User names and passwords configured for a service (HTTP backups, FTP logins), checked in constant
 * time: both sides are hashed to 32 bytes and compared with timingSafeEqual, against every configured
 * pair with no early exit, so neither the length of a secret nor which user exists shows in the time
 * an answer takes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export interface Credential {
  readonly user: string;
  readonly password: string;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** A set of credentials, hashed once. */
export class CredentialSet {
  private readonly pairs: readonly { user: Buffer; password: Buffer }[];

  constructor(list: readonly Credential[]) {
    this.pairs = list.map((c) => ({ user: digest(c.user), password: digest(c.password) }));
  }

  get size(): number {
    return this.pairs.length;
  }

  /** True when `user` and `password` match a configured pair. Time does not depend on which. */
  verify(user: string, password: string): boolean {
    const u = digest(user);
    const p = digest(password);
    let ok = false;
    for (const pair of this.pairs) {
      // Both comparisons always run: `&&` would skip the password of a wrong user.
      const userOk = timingSafeEqual(u, pair.user);
      const passOk = timingSafeEqual(p, pair.password);
      ok = (userOk && passOk) || ok;
    }
    return ok;
  }
}

/** `USER:PASS` (the password may contain `:`) → a credential; undefined when malformed. */
export function parseCredential(text: string): Credential | undefined {
  const i = text.indexOf(':');
  if (i <= 0) return undefined;
  const user = text.slice(0, i);
  const password = text.slice(i + 1);
  if (/[\x00-\x1f\x7f]/.test(text)) return undefined;
  return { user, password };
}

/**
 * The credentials of an `Authorization: Basic …` header (RFC 7617), or undefined when the header is
 * absent, of another scheme, or malformed.
 */
export function basicCredentials(header: string | undefined): Credential | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*basic\s+([A-Za-z0-9+/=._~-]{1,1024})\s*$/i.exec(header);
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) return undefined;
  return { user: text.slice(0, i), password: text.slice(i + 1) };
}
