/** The FTP session state machine alone: commands in, decisions and replies out (no sockets). */
import { describe, expect, it } from 'vitest';
import {
  type Decision,
  FtpSession,
  mdtmTime,
  parseEprt,
  parsePort,
  resolvePath,
} from '../../packages/ftp/src/session.js';
import { CredentialSet } from '../../packages/core/src/credentials.js';

const session = (o: { anonymous?: boolean; client?: string } = {}) =>
  new FtpSession({
    anonymous: o.anonymous ?? true,
    users: new CredentialSet([{ user: 'phone', password: 's3cret' }]),
    clientAddress: o.client ?? '10.0.0.5',
    maxLoginFailures: 3,
  });

const code = (d: Decision) => (d.kind === 'reply' ? Number(d.reply.slice(0, 3)) : d.kind);

function loggedIn(o?: Parameters<typeof session>[0]): FtpSession {
  const s = session(o);
  expect(code(s.command('USER anonymous'))).toBe(331);
  expect(code(s.command('PASS me@'))).toBe(230);
  return s;
}

describe('login', () => {
  it('takes anonymous, and configured users only with their password', () => {
    const s = session();
    expect(code(s.command('USER phone'))).toBe(331);
    expect(code(s.command('PASS wrong'))).toBe(530);
    expect(s.loggedIn).toBe(false);
    expect(code(s.command('USER phone'))).toBe(331);
    expect(code(s.command('PASS s3cret'))).toBe(230);
    expect(s.user).toBe('phone');
  });

  it('refuses anonymous when it is off', () => {
    const s = session({ anonymous: false });
    expect(code(s.command('USER anonymous'))).toBe(530);
    expect(code(s.command('PASS x'))).toBe(503);
    expect(s.loggedIn).toBe(false);
  });

  it('closes after three failed passwords', () => {
    const s = session();
    for (let i = 0; i < 2; i++) {
      s.command('USER phone');
      const d = s.command('PASS no');
      expect(d.kind === 'reply' && d.close).toBeFalsy();
    }
    s.command('USER phone');
    const d = s.command('PASS no');
    expect(d.kind === 'reply' && d.close).toBe(true);
  });

  it('answers nothing but login commands before login', () => {
    const s = session();
    for (const c of ['RETR x', 'LIST', 'CWD /', 'PASV', 'PORT 10,0,0,5,20,1', 'SIZE x', 'STOR x'])
      expect(code(s.command(c))).toBe(530);
    expect(code(s.command('SYST'))).toBe(215);
    expect(code(s.command('FEAT'))).toBe(211);
  });
});

describe('read-only', () => {
  it('refuses every write command with 550', () => {
    const s = loggedIn();
    for (const c of [
      'STOR a',
      'STOU',
      'APPE a',
      'DELE a',
      'RMD d',
      'XRMD d',
      'MKD d',
      'XMKD d',
      'RNFR a',
      'RNTO b',
      'SITE CHMOD 777 a',
    ])
      expect(code(s.command(c))).toBe(550);
  });

  it('answers unknown commands and junk with 5xx, never a decision', () => {
    const s = loggedIn();
    expect(code(s.command('XYZZ'))).toBe(502);
    expect(code(s.command(''))).toBe(500);
    expect(code(s.command('\u0000\u0001\u00ff garbage'))).toBe(500);
    expect(code(s.command('A'.repeat(300)))).toBe(500);
  });
});

describe('paths', () => {
  it('never climbs above the virtual root', () => {
    expect(resolvePath('/', '../../etc/passwd')).toBe('/etc/passwd');
    expect(resolvePath('/a/b', '../c')).toBe('/a/c');
    expect(resolvePath('/a', '/x/./y/')).toBe('/x/y');
    expect(resolvePath('/a', '..')).toBe('/');
  });

  it('CWD is a lookup; PWD quotes the directory', () => {
    const s = loggedIn();
    const d = s.command('CWD sub/dir');
    expect(d).toEqual({ kind: 'dir', op: 'cwd', path: '/sub/dir', mayBeFile: false });
    expect(s.dirResult('cwd', '/sub/dir', { ok: true })).toMatch(/^250 /);
    expect(s.command('PWD')).toMatchObject({ reply: '257 "/sub/dir" is the current directory.\r\n' });
    expect(s.dirResult('cwd', '/nope', { ok: false, failure: 'not-found' })).toMatch(/^550 /);
    expect(s.cwd).toBe('/sub/dir');
  });
});

describe('data channels', () => {
  it('refuses PORT and EPRT to any address but the client own (no FTP bounce)', () => {
    const s = loggedIn({ client: '10.0.0.5' });
    expect(code(s.command('PORT 10,0,0,6,19,137'))).toBe(500);
    expect(code(s.command('PORT 127,0,0,1,0,25'))).toBe(500);
    expect(code(s.command('EPRT |1|192.0.2.1|6000|'))).toBe(500);
    expect(code(s.command('EPRT |2|::1|6000|'))).toBe(500);
    expect(code(s.command('PORT 10,0,0,5,0,25'))).toBe(500); // privileged port of the client itself
    expect(s.command('PORT 10,0,0,5,19,137')).toEqual({
      kind: 'active',
      host: '10.0.0.5',
      port: 5001,
      extended: false,
    });
    expect(s.command('EPRT |1|10.0.0.5|6000|')).toEqual({
      kind: 'active',
      host: '10.0.0.5',
      port: 6000,
      extended: true,
    });
    expect(code(s.command('PORT 1,2,3'))).toBe(501);
    expect(code(s.command('EPRT |1|not-an-address|6000|'))).toBe(522);
  });

  it('needs a data channel before RETR, LIST and NLST, and uses it up', () => {
    const s = loggedIn();
    expect(code(s.command('RETR a.bin'))).toBe(425);
    expect(s.command('EPSV')).toEqual({ kind: 'passive', extended: true });
    expect(s.passiveResult({ ok: true, extended: true, address: '10.0.0.1', port: 50000 })).toBe(
      '229 Entering Extended Passive Mode (|||50000|).\r\n',
    );
    expect(s.command('RETR a.bin')).toEqual({ kind: 'file', op: 'retr', path: '/a.bin', offset: 0 });
    expect(s.fileResult('retr', { ok: true, size: 10, mtimeMs: 0, name: 'a.bin' })).toMatch(/^150 /);
    expect(code(s.command('RETR a.bin'))).toBe(425);
    expect(s.command('PASV')).toEqual({ kind: 'passive', extended: false });
    expect(s.passiveResult({ ok: true, extended: false, address: '10.0.0.1', port: 50001 })).toBe(
      '227 Entering Passive Mode (10,0,0,1,195,81).\r\n',
    );
  });

  it('REST applies to the next RETR only', () => {
    const s = loggedIn();
    expect(code(s.command('REST 100'))).toBe(350);
    s.command('PASV');
    s.passiveResult({ ok: true, extended: false, address: '10.0.0.1', port: 50000 });
    expect(s.command('RETR a')).toMatchObject({ offset: 0 }); // PASV came between
    s.command('PASV');
    s.passiveResult({ ok: true, extended: false, address: '10.0.0.1', port: 50000 });
    expect(code(s.command('REST 100'))).toBe(350);
    expect(s.command('RETR a')).toMatchObject({ offset: 100 });
    expect(s.fileResult('retr', { ok: true, size: 50, mtimeMs: 0, name: 'a' }, 100)).toMatch(/^554 /);
  });

  it('EPSV ALL refuses the others', () => {
    const s = loggedIn();
    expect(code(s.command('EPSV ALL'))).toBe(200);
    expect(code(s.command('PASV'))).toBe(501);
    expect(code(s.command('PORT 10,0,0,5,19,137'))).toBe(501);
  });
});

describe('SIZE and MDTM', () => {
  it('answer from the file looked up', () => {
    const s = loggedIn();
    expect(s.command('SIZE /x/y.bin')).toEqual({ kind: 'file', op: 'size', path: '/x/y.bin', offset: 0 });
    expect(s.fileResult('size', { ok: true, size: 1234, mtimeMs: 0, name: 'x/y.bin' })).toBe('213 1234\r\n');
    expect(s.fileResult('mdtm', { ok: true, size: 1, mtimeMs: Date.UTC(2026, 11, 3, 18, 5, 9), name: 'x' })).toBe(
      '213 20261203180509\r\n',
    );
    expect(s.fileResult('size', { ok: false, failure: 'not-found' })).toMatch(/^550 /);
    expect(mdtmTime(0)).toBe('19700101000000');
  });
});

describe('parsers', () => {
  it('PORT and EPRT', () => {
    expect(parsePort('192,168,1,2,4,1')).toEqual({ host: '192.168.1.2', port: 1025 });
    expect(parsePort('192,168,1,256,4,1')).toBeUndefined();
    expect(parseEprt('|1|132.235.1.2|6275|')).toEqual({ host: '132.235.1.2', port: 6275 });
    expect(parseEprt('!2!1080::8:800:200C:417A!5282!')).toEqual({ host: '1080::8:800:200C:417A', port: 5282 });
    expect(parseEprt('|1|1.2.3.4|70000|')).toBeUndefined();
    expect(parseEprt('|3|1.2.3.4|700|')).toBeUndefined();
  });
});
