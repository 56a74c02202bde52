import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { fleetAcl } from '../../../host-tools/fleet/acl.js';
import { ota } from '../../helpers/cli.js';
import { otaRejection } from '../../helpers/errors.js';
import { hashTree } from '../../helpers/tree-snapshot.js';

/** `ota fleet acl` run again and again on one output folder, with the real openssl. */
let root: string;
let out: string;
const devices = (ids: string[]) => `devices:\n${ids.map((id) => `  - { id: ${id}, group: lab }\n`).join('')}`;
const read = (path: string) => readFile(join(out, path), 'utf8');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-acl-write-'));
  out = join(root, 'acl');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('ota fleet acl, run again on its folder', () => {
  it('first run (the CLI, --json): lists what it wrote; secrets 0600; certificates chain to the CA with the id as CN', async () => {
    await writeFile(join(root, 'fleet.yaml'), devices(['gw-1', 'gw-2']));
    const r = await ota('fleet', 'acl', '--devices', join(root, 'fleet.yaml'), '-o', out, '--json');
    expect(r.code, r.err).toBe(0);
    const doc = JSON.parse(r.out.join('\n')) as { dir: string; added: string[]; files: Record<string, string>; users: { id: string; dir: string }[] };
    expect(doc.added).toEqual(['operator', 'gw-1', 'gw-2']);
    for (const f of Object.values(doc.files)) await stat(f);
    expect(doc.users.map((u) => u.dir)).toEqual([join(out, 'operators/operator'), join(out, 'devices/gw-1'), join(out, 'devices/gw-2')]);
    for (const secret of ['ca/ca.key', 'broker/server.key', 'broker/passwd', 'devices/gw-1/password', 'devices/gw-1/client.key']) {
      expect(((await stat(join(out, secret))).mode & 0o777).toString(8), secret).toBe('600');
    }
    await run('verify', ['openssl', 'verify', '-CAfile', join(out, 'ca/ca.crt'), join(out, 'devices/gw-1/client.crt'), join(out, 'broker/server.crt')]);
    const subject = await run('subject', ['openssl', 'x509', '-in', join(out, 'devices/gw-1/client.crt'), '-noout', '-subject', '-ext', 'extendedKeyUsage']);
    expect(subject.stdout).toMatch(/subject=CN = gw-1\n[\s\S]*TLS Web Client Authentication/);
    expect(await read('broker/passwd')).toMatch(/^operator:\$7\$101\$.*\ngw-1:\$7\$.*\ngw-2:\$7\$.*\n$/);
  });

  it('a re-run keeps the CA, keys and passwords, adds a new device and drops a removed one', async () => {
    const before = { ca: await read('ca/ca.key'), key: await read('devices/gw-1/client.key'), pw: await read('devices/gw-1/password'), passwd: (await read('broker/passwd')).split('\n')[1] };
    await writeFile(join(root, 'fleet.yaml'), devices(['gw-1', 'gw-3']));
    const r = await fleetAcl({ devicesFile: join(root, 'fleet.yaml'), out });
    expect([r.ca, r.added, r.removed]).toEqual(['kept', ['gw-3'], ['gw-2']]);
    expect({ ca: await read('ca/ca.key'), key: await read('devices/gw-1/client.key'), pw: await read('devices/gw-1/password'), passwd: (await read('broker/passwd')).split('\n')[1] }).toEqual(before);
    expect((await readdir(join(out, 'devices'))).sort()).toEqual(['gw-1', 'gw-3']);
    expect(await read('broker/acl')).not.toMatch(/gw-2/);
    expect(await readdir(root)).toEqual(expect.not.arrayContaining([expect.stringMatching(/^\.acl\./)]));
  });

  it('--rotate passwords replaces every password and keeps the keys', async () => {
    const pw = await read('devices/gw-1/password');
    const key = await read('devices/gw-1/client.key');
    const r = await ota('fleet', 'acl', '--devices', join(root, 'fleet.yaml'), '-o', out, '--rotate', 'passwords');
    expect(r.code, r.err).toBe(0);
    expect(await read('devices/gw-1/password')).not.toBe(pw);
    expect(await read('devices/gw-1/client.key')).toBe(key);
    expect(r.out.at(-1)).toMatch(/^ota fleet acl: 2 devices and 1 operator in .* 3 new passwords, 0 new certificates$/);
  });

  it('bad input changes nothing: a duplicate id, an unknown --rotate', async () => {
    const tree = await hashTree(out);
    await writeFile(join(root, 'bad.yaml'), `${devices(['gw-1', 'gw-1'])}`);
    expect((await otaRejection(fleetAcl({ devicesFile: join(root, 'bad.yaml'), out }))).message).toMatch(/"gw-1" appears twice/);
    const r = await ota('fleet', 'acl', '--devices', join(root, 'fleet.yaml'), '-o', out, '--rotate', 'keys');
    expect([r.code, r.err]).toEqual([2, expect.stringMatching(/--rotate takes passwords, certs, ca, not "keys"/)]);
    expect(await hashTree(out)).toEqual(tree);
  });

  it('a swap a crash cut between its two renames is finished by the next run: the old folder comes back, then is replaced', async () => {
    const key = await read('devices/gw-1/client.key');
    await rename(out, join(root, '.acl.old'));
    await mkdir(join(root, '.acl.new-dead'));
    const r = await fleetAcl({ devicesFile: join(root, 'fleet.yaml'), out });
    expect([r.ca, r.added]).toEqual(['kept', []]);
    expect(await read('devices/gw-1/client.key')).toBe(key);
    expect((await readdir(root)).filter((n) => n.startsWith('.acl.'))).toEqual([]);
  });

  it('refuses an output folder that holds something else', async () => {
    const other = join(root, 'other');
    await mkdir(other);
    await writeFile(join(other, 'notes.txt'), 'mine');
    expect((await otaRejection(fleetAcl({ devicesFile: join(root, 'fleet.yaml'), out: other }))).message).toMatch(/is not empty and holds no acl.json/);
    expect(await readdir(other)).toEqual(['notes.txt']);
  });
});
