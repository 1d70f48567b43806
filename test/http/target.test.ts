import { describe, expect, it } from 'vitest';
import { contentTypeFor } from '../../packages/http/src/content-type.js';
import { fileNameOfTarget } from '../../packages/http/src/target.js';

describe('fileNameOfTarget', () => {
  it('gives the same name for origin-form and absolute-form, without the query', () => {
    expect(fileNameOfTarget('/46xxupgrade.scr')).toEqual({ ok: true, name: '46xxupgrade.scr', directory: false });
    expect(fileNameOfTarget('/dir/a.bin?x=1#f')).toEqual({ ok: true, name: 'dir/a.bin', directory: false });
    expect(fileNameOfTarget('http://10.0.0.1/46xxupgrade.scr')).toEqual({
      ok: true,
      name: '46xxupgrade.scr',
      directory: false,
    });
    expect(fileNameOfTarget('HTTP://host:8080/dir/a.bin')).toEqual({ ok: true, name: 'dir/a.bin', directory: false });
    expect(fileNameOfTarget('http://host')).toEqual({ ok: true, name: '', directory: true });
  });

  it('decodes %-escapes once, so encoded dot-segments and NULs reach the resolver as such', () => {
    expect(fileNameOfTarget('/%2e%2e/%2E%2E/etc/passwd')).toEqual({
      ok: true,
      name: '../../etc/passwd',
      directory: false,
    });
    expect(fileNameOfTarget('/a%00.txt')).toEqual({ ok: true, name: 'a\0.txt', directory: false });
    expect(fileNameOfTarget('/..%5c..%5cetc')).toEqual({ ok: true, name: '..\\..\\etc', directory: false });
    expect(fileNameOfTarget('/%252e%252e/x')).toEqual({ ok: true, name: '%2e%2e/x', directory: false });
    expect(fileNameOfTarget('//etc/passwd')).toEqual({ ok: true, name: 'etc/passwd', directory: false });
    expect(fileNameOfTarget('/%2fetc%2fpasswd')).toEqual({ ok: true, name: 'etc/passwd', directory: false });
  });

  it('flags a path that names a directory: a trailing slash, or a last segment "." (also %-encoded)', () => {
    for (const t of [
      '/hello.txt/',
      '/hello.txt/.',
      '/hello.txt/%2e',
      '/hello.txt%2f',
      '/dir//',
      '/',
      '/.',
      'http://h/a/',
    ]) {
      expect(fileNameOfTarget(t), t).toMatchObject({ ok: true, directory: true });
    }
    for (const t of ['/hello.txt', '/hello.txt/..', '/a/.b', '/a.', '/hello.txt%5c']) {
      expect(fileNameOfTarget(t), t).toMatchObject({ ok: true, directory: false });
    }
  });

  it('refuses malformed escapes, other schemes and non-paths with 400', () => {
    for (const t of ['/a%zz', '/a%', '/%c3%28', 'ftp://h/x', '*', 'host:80', 'file']) {
      expect(fileNameOfTarget(t), t).toMatchObject({ ok: false, status: 400 });
    }
  });
});

describe('contentTypeFor', () => {
  it('maps the provisioning file kinds', () => {
    expect(contentTypeFor('46xxupgrade.scr')).toBe('text/plain; charset=utf-8');
    expect(contentTypeFor('dir/46XXSETTINGS.TXT')).toBe('text/plain; charset=utf-8');
    expect(contentTypeFor('SIP001122334455.cfg')).toBe('text/plain; charset=utf-8');
    expect(contentTypeFor('phone.xml')).toBe('application/xml');
    expect(contentTypeFor('S96x1_SALBR6_6_0_V4.bin')).toBe('application/octet-stream');
    expect(contentTypeFor('420HD.img')).toBe('application/octet-stream');
    expect(contentTypeFor('a.tar')).toBe('application/octet-stream');
    expect(contentTypeFor('noext')).toBe('application/octet-stream');
  });
});
