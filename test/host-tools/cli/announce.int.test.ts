import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { generateSigningKey, signDocument, type SigningKey } from '../../../contract/index.js';
import { ota } from '../../helpers/cli.js';
import { startMosquitto, subscribeOnce, type Mosquitto } from '../../helpers/mosquitto.js';
import { startOtaServe } from '../../helpers/ota-serve.js';

const GOLDEN = join(import.meta.dirname, '../../contract/golden');
let dir: string;
let broker: Mosquitto;
let key: SigningKey;
let pub: string;
let release: Record<string, unknown>;
let manifest: string;
let jws: string;

/** Whatever is retained on a topic now (a fresh subscriber's view), or nothing after 1 s. */
async function retained(url: string, topic: string): Promise<string[]> {
  const u = new URL(url);
  const r = await run('mosquitto_sub', ['mosquitto_sub', '-h', u.hostname, '-p', u.port, '-t', topic, '--retained-only', '-C', '1', '-W', '1'], { okCodes: [0, 27] });
  return r.stdout.split('\n').filter((l) => l !== '');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-announce-'));
  broker = await startMosquitto();
  key = await generateSigningKey();
  pub = join(dir, 'release.pub.jwks');
  await writeFile(pub, JSON.stringify({ keys: [key.publicJwk] }));
  release = JSON.parse(await readFile(join(GOLDEN, 'release.json'), 'utf8')) as Record<string, unknown>;
  jws = await signDocument('release', release, key);
  manifest = join(dir, '1.4.0.jws');
  await writeFile(manifest, `${jws}\n`);
});

afterAll(async () => {
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('ota announce', () => {
  it('verifies the manifest with --key, publishes it retained, and a later mosquitto_sub receives it', async () => {
    const r = await ota('announce', '--broker', broker.url, '--group', 'canary', '--release', manifest, '--key', pub, '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out.join('\n')) as Record<string, unknown>;
    expect(doc).toMatchObject({ topic: 'ota/groups/canary/release', verified: true, kid: key.kid, version: release.version, commit: release.commit, protocol: '5' });
    // Subscribed only after announce has exited: the broker kept the message, as devices that come later need.
    expect(await subscribeOnce(broker.url, 'ota/groups/canary/release')).toEqual([jws]);
  });

  it('reaches ota serve\'s embedded broker (MQTT 3.1.1), where mosquitto_sub receives it too', async () => {
    const pubDir = join(dir, 'published');
    await run('mkdir', ['mkdir', '-p', pubDir]);
    await writeFile(join(pubDir, 'ota-published.json'), JSON.stringify({ format: 'deb-ota-published', formatVersion: 1 }));
    const srv = await startOtaServe(pubDir);
    try {
      const r = await ota('announce', '--broker', srv.mqttUrl!, '--group', 'canary', '--prefix', 'lab/ota', '--release', manifest, '--key', pub, '--json');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out.join('\n'))).toMatchObject({ protocol: '3.1.1', topic: 'lab/ota/groups/canary/release' });
      expect(await subscribeOnce(srv.mqttUrl!, 'lab/ota/groups/canary/release', { args: ['-V', 'mqttv311'] })).toEqual([jws]);
    } finally {
      expect((await srv.stop()).code).toBe(0);
    }
  });

  it('without --key, sends a well-formed release but says it did not verify it', async () => {
    const r = await ota('announce', '--broker', broker.url, '--group', 'lab', '--release', manifest);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/not verified/);
    expect(r.err).toMatch(/published for group canary, and is announced to group lab/);
    expect(r.out.join('\n')).toMatch(/announced gateway\/stable 1\.4\.0 .* ota\/groups\/lab\/release .*retained, acknowledged .*NOT verified/);
    expect(await retained(broker.url, 'ota/groups/lab/release')).toEqual([jws]);
  });

  it('refuses a tampered manifest, another key, a command, an expired manifest and a bad group, sending nothing', async () => {
    const [h, p, s] = jws.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, version: '9.9.9' })).toString('base64url')}.${s}`;
    const other = await generateSigningKey();
    const cases: [string, string, string[], RegExp][] = [
      ['tampered', tampered, ['--key', pub], /signature does not verify/],
      ['other key', await signDocument('release', release, other), ['--key', pub], /not a trusted key/],
      ['command', (await readFile(join(GOLDEN, 'command.jws'), 'utf8')).trim(), [], /typ "deb-ota-command\+jws" is not deb-ota-release\+jws/],
      ['expired', await signDocument('release', release, key, { now: new Date(Date.now() - 7200_000), expiresInSeconds: 60 }), [], /expired/],
      ['not a JWS', 'hello', [], /not a compact JWS/],
      // Without --key too: what every device would refuse is refused through the contract's reader.
      ['not yet valid', await signDocument('release', release, key, { now: new Date(Date.now() + 86400_000) }), [], /not valid before/],
      ['fractional exp', `${h}.${Buffer.from(JSON.stringify({ ...payload, exp: payload.exp as number + 0.5 })).toString('base64url')}.${s}`, [], /claims: /],
    ];
    for (const [name, text, extra, why] of cases) {
      const f = join(dir, `${name}.jws`);
      await writeFile(f, text);
      const r = await ota('announce', '--broker', broker.url, '--group', 'refused', '--release', f, ...extra);
      // Bad input, as README's exit codes say: 2.
      expect(r.code, name).toBe(2);
      expect(r.err, name).toMatch(why);
    }
    const bad = await ota('announce', '--broker', broker.url, '--group', 'a/b', '--release', manifest);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/invalid group/);
    expect(await retained(broker.url, 'ota/groups/refused/release')).toEqual([]);
  });

  it('says which broker it cannot reach, and that it is not authorized, as one line with a hint', async () => {
    const acl = join(dir, 'acl');
    await writeFile(acl, 'user ops\ntopic readwrite ota/groups/lab/#\n');
    const locked = await startMosquitto({ users: { ops: 'pw' }, extraConfig: [`acl_file ${acl}`] });
    try {
      const r = await ota('announce', '--broker', locked.url, '--group', 'lab', '--release', manifest, '--username', 'ops', '--password', 'nope', '--json');
      expect(r.code).toBe(1);
      const e = JSON.parse(r.out.join('\n')) as { error: { code: string; message: string; hint: string } };
      expect(e.error.code).toBe('ERR_OTA_MQTT');
      expect(e.error.message).toMatch(/not authorized/);
      const ok = await ota('announce', '--broker', locked.url, '--group', 'lab', '--release', manifest, '--username', 'ops', '--password', 'pw');
      expect(ok.code).toBe(0);
      // MQTT 5 lets the broker say that its ACL dropped the message; announce fails instead of claiming success.
      const denied = await ota('announce', '--broker', locked.url, '--group', 'prod', '--release', manifest, '--username', 'ops', '--password', 'pw');
      expect(denied.code).toBe(1);
      expect(denied.err).toMatch(/publishing on ota\/groups\/prod\/release at mqtt:\/\/127\.0\.0\.1:\d+: .*Not authorized/);
    } finally {
      await locked.stop();
    }
  });
});
