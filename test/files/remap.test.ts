/**
 * tftpd-hpa remap rules (src/files/remap.ts), pure: each operation, each escape, bootwire's {mac},
 * {MAC} and {model}, and the files refused at start with their line. What Debian's in.tftpd does with
 * the same rules is compared in remap-peer.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  addressHex,
  applyRemap,
  parseRemapRules,
  REMAP_MAX_STEPS,
  type RemapContext,
} from '../../packages/core/src/files/remap.js';
import { nameRules } from '../../packages/core/src/files/names.js';

const rules = (text: string) => {
  const p = parseRemapRules(text);
  if (!p.ok) throw new Error(`line ${p.line}: ${p.message}`);
  return p.rules;
};
const ctx: RemapContext = { op: 'G', address: '192.0.2.169' };
const map = (text: string, name: string, c: Partial<RemapContext> = {}) =>
  applyRemap(rules(text), name, { ...ctx, ...c });
const name = (text: string, n: string, c: Partial<RemapContext> = {}) => {
  const r = map(text, n, c);
  if (!r.ok) throw new Error(`refused: ${r.message}`);
  return r.name;
};

describe('remap rules: operations', () => {
  it('r replaces the first (leftmost-longest) match; the rest of the name stays', () => {
    expect(name('r a+ X', 'baaab aa')).toBe('bXb aa');
    expect(name('r ^/tftpboot/', '/tftpboot/pxelinux.0')).toBe('pxelinux.0'); // no replacement: deleted
    expect(name('r a|ab X', 'abc')).toBe('Xc'); // POSIX: the longest of the leftmost matches (Perl would take "a")
    expect(name('r nomatch X', 'name.cfg')).toBe('name.cfg');
  });

  it('g repeats the rule until it no longer matches', () => {
    expect(name('rg \\\\ /', 'a\\b\\c')).toBe('a/b/c');
    expect(name('r \\\\ /', 'a\\b\\c')).toBe('a/b\\c');
    expect(name('g \\\\ /', 'a\\b')).toBe('a\\b'); // g without r does nothing
  });

  it('i matches case-insensitively', () => {
    expect(name('ri ^sipdefault\\.cnf$ SIPDefault.cnf', 'SIPDEFAULT.CNF')).toBe('SIPDefault.cnf');
    expect(name('r ^sipdefault\\.cnf$ SIPDefault.cnf', 'SIPDEFAULT.CNF')).toBe('SIPDEFAULT.CNF');
  });

  it('e stops after a matching rule; a rule that does not match does not stop', () => {
    const r = 're ^a b\nr b c';
    expect(name(r, 'a')).toBe('b');
    expect(name(r, 'xb')).toBe('xc');
  });

  it('s starts again from the first rule after a matching one', () => {
    // The first rule only matches after the second rewrote the name.
    const r = 'r ^y z\nrs ^x y';
    expect(name(r, 'x')).toBe('z');
    expect(name('r ^y z\nr ^x y', 'x')).toBe('y');
  });

  it('a refuses the request, with the replacement as the message', () => {
    expect(map('a \\.exe$', 'evil.exe')).toEqual({ ok: false });
    expect(map('a \\.exe$ no\\ programs\\ for\\ \\i', 'evil.exe')).toEqual({
      ok: false,
      message: 'no programs for 192.0.2.169',
    });
    expect(map('a \\.exe$', 'fine.cfg')).toEqual({ ok: true, name: 'fine.cfg' });
    // The message is the pattern alone, its groups from the match (as in.tftpd sends it: remap-peer.test.ts).
    expect(map('a ^deny/(.*)\\.(.*)$ no\\ \\2\\ files', 'deny/x.exe')).toEqual({ ok: false, message: 'no exe files' });
  });

  it('~ inverts a rule (not with r); G and P pick the direction; 4 and 6 the address family', () => {
    expect(map('a~ \\.cfg$', 'x.bin').ok).toBe(false);
    expect(map('a~ \\.cfg$', 'x.cfg').ok).toBe(true);
    expect(name('rG ^ get/', 'x')).toBe('get/x');
    expect(name('rG ^ get/', 'x', { op: 'P' })).toBe('x');
    expect(name('rP ^ put/', 'x', { op: 'P' })).toBe('put/x');
    expect(name('r4 ^ v4/\nr6 ^ v6/', 'x')).toBe('v4/x');
    expect(name('r4 ^ v4/\nr6 ^ v6/', 'x', { address: '2001:db8::1' })).toBe('v6/x');
  });

  it('a rule set that never settles is refused after a bounded number of steps', () => {
    expect(map('rg a aa', 'a')).toEqual({ ok: false, message: 'Remap table failure' });
    expect(map('rs ^ x', 'a')).toEqual({ ok: false, message: 'Remap table failure' });
    // Many rules in a row are fine up to the bound.
    const many = Array.from({ length: REMAP_MAX_STEPS - 1 }, () => 'r ^zz y').join('\n');
    expect(map(many, 'a')).toEqual({ ok: true, name: 'a' });
  });
});

describe('remap rules: replacement escapes', () => {
  it('\\0..\\9, \\U \\L \\E, \\i, \\x, and a backslash before anything else', () => {
    expect(name('r ^(.*)\\.(.*)$ \\2.\\1.\\0', 'a.b')).toBe('b.a.a.b');
    expect(name('r ^(.*)$ \\U\\1\\E-\\L\\1\\Eok', 'MiXed')).toBe('MIXED-mixedok');
    expect(name('r ^ \\i/', 'f')).toBe('192.0.2.169/f');
    expect(name('r ^ \\x/', 'f')).toBe('C00002A9/f');
    expect(name('r ^ \\x/', 'f', { address: '2001:db8::1' })).toBe('20010DB8000000000000000000000001/f');
    expect(name('r ^ a\\ b\\#c\\\\d\\{mac}', 'f')).toBe('a b#c\\d{mac}f');
    expect(addressHex('10.0.0.1')).toBe('0A000001');
  });

  it('# starts a comment unless escaped; blank and comment lines are skipped', () => {
    expect(name('# a comment\n\n   \nr x y # r y z\n', 'x')).toBe('y');
  });
});

describe('remap rules: the phone from DHCP', () => {
  const phone = { mac: '00:90:8f:b0:00:09', model: '440HD' };

  it('{mac}, {MAC}, {model}; a rule naming what the phone lacks does not apply', () => {
    const r = 'r ^config\\.cfg$ {mac}.cfg\nr ^upper$ {MAC}\nr ^model/ {model}/';
    expect(name(r, 'config.cfg', { phone })).toBe('00908fb00009.cfg');
    expect(name(r, 'upper', { phone })).toBe('00908FB00009');
    expect(name(r, 'model/x.img', { phone })).toBe('440HD/x.img');
    expect(name(r, 'config.cfg')).toBe('config.cfg');
    expect(name(r, 'model/x', { phone: { mac: phone.mac } })).toBe('model/x');
  });

  it('a model from option 60 cannot put path characters into a name', () => {
    expect(name('r ^m$ {model}', 'm', { phone: { mac: phone.mac, model: '../../etc/x' } })).toBe('.._.._etc_x');
  });
});

describe('remap files refused at start, with the line', () => {
  const bad = (text: string) => {
    const p = parseRemapRules(text);
    if (p.ok) throw new Error('accepted');
    return `${p.line}: ${p.message}`;
  };

  it('a regular expression RE2 cannot run in linear time (a back-reference) or cannot parse', () => {
    expect(bad('r a b\n\nr (a)\\1 x')).toMatch(
      /^3: regular expression "\(a\)\\\\1" cannot be run in linear time or is not valid \(RE2 syntax\): .*\\1/,
    );
    expect(bad('# ok\nr a( x')).toMatch(/^2: regular expression "a\(" .*missing closing \)/);
  });

  it('an unknown operation, r~, a rule without a regex', () => {
    expect(bad('rq a b')).toMatch(/^1: operation "rq" contains "q"/);
    expect(bad('r a b\nr~ a b')).toBe('2: r rules cannot be inverted (~)');
    expect(bad('r')).toBe('1: no regular expression');
  });
});

describe('name rules: lowercase before the rules', () => {
  it('folds ASCII letters, then applies the rules to the folded name', () => {
    const m = nameRules({ lowercase: true, remap: rules('r ^sip(.*)$ SIP\\1') })!;
    const client = { address: '10.0.0.1', port: 1 };
    expect(m({ name: 'SIPDefault.CNF', protocol: 'tftp', mode: 'octet' }, client, 'read')).toEqual({
      ok: true,
      name: 'SIPdefault.cnf',
    });
    expect(nameRules({})).toBeUndefined();
    expect(nameRules({ lowercase: true })!({ name: 'ÄB.C', protocol: 'http', mode: 'GET' }, client, 'read')).toEqual({
      ok: true,
      name: 'Äb.c',
    });
  });
});
