/**
 * Running as a service (issue 17, item 5): contrib/bootwire.service passes `systemd-analyze verify`
 * (which runs without systemd as PID 1, as in this container), the Dockerfile builds where a Docker
 * daemon answers, and `serve --user NAME` binds its ports as root, then runs as NAME with its leases
 * still written, the control socket still answering and SIGHUP still rereading the config.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tftpGetBuffer } from '../../packages/tftp/src/client.js';
import { IN_CI, IS_ROOT, needBinary, REPO_ROOT, requireRoot } from '../helpers/peers.js';
import { cli, doras, freeUdpPort, makeRoot, relay, scratch, siteConfig, startServe, writeConfig } from './helpers.js';

const SYSTEMD_ANALYZE = needBinary('systemd-analyze', 'systemd');
const UNIT = path.join(REPO_ROOT, 'contrib', 'bootwire.service');

let dir: string;
beforeAll(async () => {
  dir = await scratch('bw-service-');
  await fs.chmod(dir, 0o755);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** The unit with its ExecStart program replaced by `program` (verify checks that it is executable). */
async function unitCopy(program: string, edit: (text: string) => string = (t) => t): Promise<string> {
  const text = edit(readFileSync(UNIT, 'utf8')).replace(/^ExecStart=\S+/m, `ExecStart=${program}`);
  const d = await fs.mkdtemp(path.join(dir, 'unit-'));
  const file = path.join(d, 'bootwire.service');
  await fs.writeFile(file, text);
  return file;
}

function verify(analyze: string, file: string) {
  return spawnSync(analyze, ['verify', file], { encoding: 'utf8', timeout: 60_000 });
}

describe('contrib/bootwire.service', () => {
  it(
    'says what the issue asks: an unprivileged user, the capability to bind low ports, SIGHUP on ' +
      'reload, a state directory',
    () => {
      const unit = readFileSync(UNIT, 'utf8');
      const keys = new Map<string, string[]>();
      for (const line of unit.split('\n')) {
        const m = /^([A-Za-z]+)=(.*)$/.exec(line);
        if (m) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!]);
      }
      expect(keys.get('User')).toEqual(['bootwire']);
      expect(keys.get('AmbientCapabilities')).toEqual(['CAP_NET_BIND_SERVICE']);
      expect(keys.get('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
      expect(keys.get('StateDirectory')).toEqual(['bootwire']);
      expect(keys.get('ExecStart')![0]).toMatch(/ serve --config \/etc\/bootwire\/bootwire\.json$/);
    },
  );

  it('passes systemd-analyze verify (no warning), which does find a broken copy', async (ctx) => {
    const analyze = SYSTEMD_ANALYZE.use(ctx);
    // verify wants ExecStart's program to exist: the built CLI, made executable through a wrapper.
    const wrapper = path.join(dir, 'bootwire');
    await fs.writeFile(
      wrapper,
      `#!/bin/sh\nexec "${process.execPath}" "${path.join(REPO_ROOT, 'dist', 'cli', 'main.js')}" "$@"\n`,
      { mode: 0o755 },
    );
    const good = verify(analyze, await unitCopy(wrapper));
    expect(good.status, good.stderr).toBe(0);
    expect(
      good.stderr.split('\n').filter((l) => l.includes('bootwire.service')),
      good.stderr,
    ).toEqual([]);
    // The check can fail: an unknown key, a program that is not there.
    const typo = verify(analyze, await unitCopy(wrapper, (t) => t.replace('ExecReload=', 'ExecRelaod=')));
    expect(typo.stderr).toMatch(/Unknown key 'ExecRelaod'/);
    const gone = verify(analyze, await unitCopy(path.join(dir, 'no-such-bootwire')));
    expect(gone.status).not.toBe(0);
    expect(gone.stderr).toMatch(/is not executable/);
  });
});

describe('Dockerfile', () => {
  const docker = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 20_000 });
  const why = docker.error
    ? `no docker client (${docker.error.message})`
    : docker.status !== 0
      ? `no Docker daemon answers (docker info: ${(docker.stderr || docker.stdout).trim().split('\n').pop()})`
      : undefined;

  it('names node:20-slim, builds with dev tools in a stage of their own, documents host networking', () => {
    const text = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
    expect(text.match(/^FROM node:20-slim/gm)).toHaveLength(2);
    expect(text).toMatch(/--network host/);
    expect(text).toMatch(/^CMD \["serve", "--config", "\/etc\/bootwire\/bootwire.json", "--user", "node"\]$/m);
  });

  // No daemon here (a container without one): the build runs where there is one, CI included.
  it.skipIf(why !== undefined)(`builds (${why ?? 'docker available'})`, () => {
    const r = spawnSync('docker', ['build', '-t', 'bootwire-test:latest', REPO_ROOT], {
      encoding: 'utf8',
      timeout: 30 * 60_000,
    });
    expect(r.status, r.stderr.slice(-4000)).toBe(0);
    const help = spawnSync('docker', ['run', '--rm', 'bootwire-test:latest', '--help'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(help.stdout).toMatch(/Usage: bootwire/);
  });
});

describe('serve --user', () => {
  const NOBODY = 65534;

  it(
    'binds a privileged port as root, then runs as nobody: DHCP leases still written, the control ' +
      'socket answers, SIGHUP rereads',
    async (ctx) => {
      requireRoot(ctx);
      const site = path.join(dir, 'user');
      await fs.mkdir(site);
      await makeRoot(site);
      chownSync(site, NOBODY, NOBODY); // the leases directory: nobody creates the WAL there
      const relayPort = await freeUdpPort();
      // A port below 1024 that nothing uses: only root can bind it.
      let low = 0;
      for (let p = 600; p < 1000 && !low; p++) if (await isFreeUdp(p)) low = p;
      const config = await writeConfig(
        site,
        siteConfig(relayPort, (c) => (c.tftp!.listen = `127.0.0.1:${low}`)),
      );
      const s = await startServe(
        ['--config', config, '--user', 'nobody', '--log-level', 'info'],
        ['tftp', 'dhcp', 'http'],
      );
      try {
        expect(s.ports.tftp).toBe(low);
        const status = readFileSync(`/proc/${s.pid}/status`, 'utf8');
        expect(status).toMatch(new RegExp(`^Uid:\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}$`, 'm'));
        expect(status).toMatch(new RegExp(`^Gid:\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}$`, 'm'));
        // Running as nobody and saying nothing about root.
        expect(s.stderr()).not.toMatch(/running as root/);
        expect((await tftpGetBuffer({ host: '127.0.0.1', port: low, filename: 'small.cfg' })).data.length).toBe(600);
        const client = await relay(relayPort, s.ports.dhcp!);
        const got = await doras(client, 1, 5);
        await client.close();
        expect(got.every((g) => g.ok)).toBe(true);
        const listed = await cli(['leases', '--config', config, '--json']);
        expect(listed.code, listed.stderr).toBe(0);
        expect((JSON.parse(listed.stdout.toString()) as { source: string; leases: unknown[] }).leases).toHaveLength(5);
        s.signal('SIGHUP');
        await s.waitFor((r) => r.event === 'reloaded', 10_000, 'the reload');
      } finally {
        expect(await s.stop()).toBe(0);
      }
      // The leases outlived the server, in a file nobody owns.
      const db = path.join(site, 'leases.db');
      expect((await fs.stat(db)).uid).toBe(NOBODY);
    },
  );

  it('refuses to run when the leases directory is not writable by the user, and names it', async (ctx) => {
    requireRoot(ctx);
    const site = path.join(dir, 'user-ro');
    await fs.mkdir(site, { mode: 0o755 });
    await makeRoot(site);
    const config = await writeConfig(site, siteConfig(await freeUdpPort()));
    const r = await cli(['serve', '--config', config, '--user', 'nobody', '--workers', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `bootwire: --user nobody: the leases directory ${site} is not writable by nobody (uid ${NOBODY}` +
        `): give it to that user (chown) or choose another directory\n`,
    );
  });

  it('an unknown user is a usage error; run as root without --user it says once that it could', async (ctx) => {
    const unknown = await cli(['serve', '--tftp', '127.0.0.1:0', '--user', 'no-such-user-bw']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('bootwire: --user: no user named "no-such-user-bw"\n');
    if (!IS_ROOT) {
      if (IN_CI) throw new Error('CI runs as root');
      ctx.skip('not root: nothing to drop');
    }
    const { root } = await makeRoot(path.join(dir, 'asroot'));
    const s = await startServe(['--root', root, '--tftp', '127.0.0.1:0', '--log-level', 'info'], ['tftp']);
    try {
      await tftpGetBuffer({ host: '127.0.0.1', port: s.ports.tftp!, filename: 'small.cfg' });
      s.signal('SIGHUP');
      await s.waitFor((r) => /nothing to reread/.test(r.msg ?? ''));
    } finally {
      await s.stop();
    }
    expect(
      s.records().filter((r) => /running as root: --user NAME would drop privileges/.test(r.msg ?? '')),
    ).toHaveLength(1);
  });
});

function isFreeUdp(port: number): Promise<boolean> {
  return import('node:dgram').then(
    ({ default: dgram }) =>
      new Promise((resolve) => {
        const s = dgram.createSocket('udp4');
        s.once('error', () => resolve(false));
        s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
      }),
  );
}
