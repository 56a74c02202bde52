import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, generateSigningKey, loadTrustedKeys, parseDocument, readSigned, signDocument, topics } from '../../../contract/index.js';
import { launchChromium, screenshot, type TestBrowser } from '../../helpers/browser.js';
import { COMMIT, devicePublisher, inventoryOf, presenceOf, statusOf, type DevicePublisher } from '../../helpers/fleet-devices.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { ota } from '../../helpers/cli.js';
import { startOtaDashboard, type OtaDashboard } from '../../helpers/ota-dashboard.js';

// The dashboard as an operator meets it: `ota fleet dashboard` as its own process against a real
// Mosquitto, Debian's chromium driven by playwright-core, and simulated devices whose retained
// documents are made with the contract's builders (test/helpers/fleet-devices.ts) and published
// as an agent would.
const HOSTILE = '<script>window.__pwned = "script"</script><img src=x onerror="window.__pwned = \'img\'">';
const DEVICES = 30;
const id = (n: number) => `gw-${String(n).padStart(2, '0')}`;

let broker: Mosquitto;
let pub: DevicePublisher;
let dash: OtaDashboard;
let chrome: TestBrowser;
let keyDir: string;

beforeAll(async () => {
  broker = await startMosquitto();
  pub = await devicePublisher(broker.url);
  for (let n = 1; n <= DEVICES; n++) {
    // gw-07 has a deployment to roll back to (the rollback action's case).
    const deployments = n === 7 ? { deployments: { booted: { version: '1.1', commit: COMMIT(2) }, staged: null, rollback: { version: '1.0', commit: COMMIT(1) } } } : {};
    await pub.retain(statusOf(id(n), { booted: n <= 20 ? '1.1' : '1.0', ...deployments }));
    await pub.retain(presenceOf(id(n), n !== 3));
  }
  await pub.retain(inventoryOf(id(2), [{ name: 'libssl3', version: '3.0.15-1~deb12u1', arch: 'arm64' }, { name: 'systemd', version: '252.33-1~deb12u1', arch: 'arm64' }], 'bookworm'));
  // A compromised device: markup in every free-text field it controls, a 1 MB string in a status,
  // and a topic level that is no device id.
  await pub.retain(statusOf('evil', { updateId: '<img src=x onerror=1>', phase: 'failed', lastError: { code: 'E<b>', message: HOSTILE, at: '2026-03-01T12:00:00Z' } }));
  await pub.raw('evil-big', 'status', JSON.stringify({ ...statusOf('evil-big'), agentVersion: 'x'.repeat(1024 * 1024) }));
  await pub.raw('<img src=x onerror=window.__pwned=1>', 'status', JSON.stringify(statusOf('gw-01')));
  const key = await generateSigningKey();
  await pub.session.publish(topics().groupRelease('lab'), await signDocument('release', releaseManifest(), key), { qos: 1, retain: true });
  keyDir = await mkdtemp(join(tmpdir(), 'ota-dashboard-key-'));
  expect((await ota('keys', 'generate', keyDir)).code).toBe(0);
  dash = await startOtaDashboard(broker.url, ['--signing-key', keyDir]);
  chrome = await launchChromium();
}, 60_000);

afterAll(async () => {
  await chrome?.close();
  await dash?.stop();
  await pub?.close();
  await broker?.stop();
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

function releaseManifest() {
  return {
    apiVersion: API_VERSION,
    kind: 'Release',
    ref: 'gateway/arm64',
    version: '1.1',
    commit: COMMIT(7),
    subject: 'tzdata 2026f',
    board: 'qemu-arm64',
    arch: 'arm64',
    minVersion: null,
    group: 'lab',
    publishedAt: '2026-03-01T10:00:00Z',
    deltas: [{ fromVersion: '1.0', fromCommit: COMMIT(1), bytes: 237_000 }],
    fullPullBytes: 41_000_000,
    unpackedBytes: 120_000_000,
    packages: [{ name: 'tzdata', version: '2026f-0+deb12u1', arch: 'all' }],
    changes: { previousVersion: '1.0', added: [], removed: [], changed: [{ name: 'tzdata', from: '2026b-0+deb12u1', to: '2026f-0+deb12u1' }] },
  };
}

async function loggedIn(o: { width?: number } = {}) {
  const { page, console } = await chrome.page(o);
  await page.goto(dash.loginUrl!);
  await page.waitForSelector('main[data-state="ready"]');
  return { page, console };
}

/** A POST to the dashboard from node, with the headers a test chooses (what another site's page could make a browser send). */
function post(path: string, headers: Record<string, string>, body = '{}'): Promise<number> {
  const u = new URL(path, dash.url);
  return new Promise((resolve, reject) => {
    const req = request(u, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('ota fleet dashboard in chromium (simulated devices, contract-built documents)', () => {
  it('needs a login: the page sends to the login form, the API answers 401, a wrong secret is refused', async () => {
    const { page } = await chrome.page();
    await page.goto(dash.url);
    expect(new URL(page.url()).pathname).toBe('/login');
    expect((await page.request.get(`${dash.url}/api/releases`)).status()).toBe(401);
    await page.fill('#secret', 'not-the-token');
    await page.click('button[type="submit"]');
    await page.waitForSelector('#failed:not([hidden])');
    await page.fill('#secret', dash.token!);
    await page.click('button[type="submit"]');
    await page.waitForSelector('main[data-state="ready"]');
    const cookie = (await page.context().cookies()).find((c) => c.name === 'ota_dashboard_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    await page.close();
  });

  it('shows every device, with counts by version, phase and presence', async () => {
    const { page } = await loggedIn();
    await page.waitForSelector(`tr[data-device="${id(DEVICES)}"]`);
    expect(await page.locator('#devices tbody tr').count()).toBe(DEVICES + 3);
    expect(await page.locator('#counts-h').textContent()).toBe(`${DEVICES + 3} devices`);
    const counts = await page.locator('.counts').innerText();
    expect(counts).toMatch(/1\.1\s+20/);
    expect(counts).toMatch(/1\.0\s+11/);
    expect(counts).toMatch(/offline\s+1/);
    await screenshot(page, 'fleet');
    await page.close();
  });

  it("shows a device's status change without a reload", async () => {
    const { page } = await loggedIn();
    await page.evaluate(() => ((globalThis as unknown as { __sameDocument: boolean }).__sameDocument = true));
    const cell = page.locator(`tr[data-device="${id(5)}"] td.phase`);
    expect(await cell.textContent()).toBe('idle');
    await pub.retain(statusOf(id(5), { phase: 'downloading', updateId: '1.2', progress: { doneBytes: 50, totalBytes: 200 } }));
    await expect.poll(() => cell.textContent(), { timeout: 10_000 }).toBe('downloading');
    expect(await page.evaluate(() => (globalThis as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    await page.close();
  });

  it("shows a device's events, telemetry and packages as they arrive", async () => {
    const { page } = await loggedIn();
    await page.goto(`${dash.url}/#/device/${id(2)}`);
    await page.waitForSelector('#facts');
    const t = topics();
    for (const type of ['checking', 'downloading', 'staged'] as const) {
      const event = parseDocument('Event', { apiVersion: API_VERSION, kind: 'Event', device: id(2), updateId: '1.2', type, reason: null, time: '2026-03-01T12:00:00Z' });
      await pub.session.publish(t.deviceEvents(id(2)), JSON.stringify(event), { qos: 1, retain: false });
    }
    const sample = parseDocument('Telemetry', { apiVersion: API_VERSION, kind: 'Telemetry', device: id(2), time: '2026-03-01T12:00:00Z', cpu: { usagePercent: 37, loadAverage1m: 0.4 }, memory: { totalBytes: 1000, availableBytes: 400 }, disk: [], temperatureCelsius: 51, uptimeSeconds: 100, network: [] });
    await pub.session.publish(t.deviceTelemetry(id(2)), JSON.stringify(sample), { qos: 0, retain: false });
    await expect.poll(() => page.locator('#events tbody tr').count(), { timeout: 10_000 }).toBe(3);
    expect(await page.locator('#events tbody tr').first().innerText()).toContain('staged');
    await expect.poll(() => page.locator('figure.chart .legend').first().innerText(), { timeout: 10_000 }).toContain('cpu: 37%');
    await expect.poll(() => page.locator('#inventory-h ~ div table').innerText(), { timeout: 10_000 }).toContain('libssl3');
    await screenshot(page, 'device');
    await page.close();
  });

  it('shows a hostile device only as its own escaped text: no script runs, no CSP violation, nothing else changes', async () => {
    const { page, console } = await loggedIn();
    await page.waitForSelector('tr[data-device="evil"]');
    const before = await page.locator(`tr[data-device="${id(1)}"]`).innerText();
    expect(await page.locator('tr[data-device="evil"] td.error').textContent()).toBe(`E<b>: ${HOSTILE}`);
    expect(await page.locator('tr[data-device="evil-big"] td.error').textContent()).toBe('document refused');
    expect(await page.locator('tr[data-device="<img src=x onerror=window.__pwned=1>"]').count()).toBe(1);
    await page.goto(`${dash.url}/#/device/evil`);
    await page.waitForSelector('#facts');
    const event = parseDocument('Event', { apiVersion: API_VERSION, kind: 'Event', device: 'evil', updateId: '<b>1</b>', type: 'failed', reason: HOSTILE, time: '2026-03-01T12:00:00Z' });
    await pub.session.publish(topics().deviceEvents('evil'), JSON.stringify(event), { qos: 1, retain: false });
    await expect.poll(() => page.locator('#events tbody tr td').nth(3).textContent(), { timeout: 10_000 }).toBe(HOSTILE);
    expect(await page.locator('dd[data-fact="last error"]').textContent()).toContain(HOSTILE);
    expect(await page.locator('dd[data-fact="update"]').textContent()).toBe('<img src=x onerror=1>');
    await page.goto(`${dash.url}/#/device/evil-big`);
    await page.waitForSelector('.problems');
    expect(await page.locator('.problems').innerText()).toMatch(/status: malformed \(\d+ bytes, over the 65536-byte limit/);
    await page.goto(`${dash.url}/#/fleet`);
    await page.waitForSelector(`tr[data-device="${id(1)}"]`);
    expect(await page.locator(`tr[data-device="${id(1)}"]`).innerText()).toBe(before);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: unknown }).__pwned)).toBeUndefined();
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(console.filter((l) => /Content Security Policy|pageerror|Refused to/i.test(l))).toEqual([]);
    await page.close();
  });

  it('serves a strict Content-Security-Policy and the other protective headers', async () => {
    const { page } = await chrome.page();
    const r = await page.request.get(`${dash.url}/login`);
    const h = r.headers();
    expect(h['content-security-policy']).toContain("script-src 'self'");
    expect(h['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(h['content-security-policy']).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(h['x-content-type-options']).toBe('nosniff');
    await page.close();
  });

  it('refuses a POST from another origin, or with no origin, even with a valid session', async () => {
    const { page } = await loggedIn();
    const cookie = (await page.context().cookies()).find((c) => c.name === 'ota_dashboard_session')!;
    const session = `${cookie.name}=${cookie.value}`;
    // A page of another port on this host is same-site: its requests carry the cookie, so the Origin check is what stops them.
    expect(await post('/logout', { cookie: session, origin: 'http://127.0.0.1:1' })).toBe(403);
    expect(await post('/api/actions/rollout-pause', { cookie: session, origin: 'http://evil.example' })).toBe(403);
    expect(await post('/api/actions/rollout-pause', { cookie: session })).toBe(403);
    expect(await post('/logout', { cookie: session, origin: 'http://127.0.0.1:1', host: 'evil.example' })).toBe(421);
    // The session survived the refused logouts: the page still reads.
    expect((await page.request.get(`${dash.url}/api/releases`)).status()).toBe(200);
    await page.close();
  });

  it("ends a session's streams when it logs out, and the session reads no more", async () => {
    const { page } = await loggedIn();
    const cookie = (await page.context().cookies()).find((c) => c.name === 'ota_dashboard_session')!;
    const session = `${cookie.name}=${cookie.value}`;
    let opened!: () => void;
    const open = new Promise<void>((r) => (opened = r));
    const ended = new Promise<string>((resolve, reject) => {
      request(new URL('/api/stream', dash.url), { headers: { cookie: session } }, (res) => {
        let first = '';
        res.setEncoding('utf8');
        res.on('data', (t: string) => {
          first ||= t.split('\n')[0]!;
          opened();
        });
        res.on('end', () => resolve(first));
      }).on('error', reject).end();
    });
    await Promise.race([open, ended]); // the stream is open and has sent its first bytes (the snapshot)
    expect(await post('/logout', { cookie: session, origin: dash.url })).toBe(303);
    expect(await ended).toBe('event: snapshot');
    expect((await page.request.get(`${dash.url}/api/releases`)).status()).toBe(401);
    await page.close();
  });

  it("rolls a device back from its page: the server signs the command with the dashboard's key", async () => {
    const { page } = await loggedIn();
    await page.goto(`${dash.url}/#/device/${id(7)}`);
    await page.waitForSelector('#facts');
    // A client of its own, subscribed (the broker acknowledged) before the click.
    const sub = await connectAsync(broker.url);
    const received = new Promise<string[]>((resolve, reject) => {
      sub.once('message', (_t, payload) => resolve([payload.toString('utf8')]));
      setTimeout(() => reject(new Error("no command on the device's topic in 30 s")), 30_000).unref();
    });
    await sub.subscribeAsync(topics().deviceCommands(id(7)));
    page.once('dialog', (d) => void d.accept());
    await page.click('button[data-action="rollback-device"]');
    await expect.poll(() => page.locator('#action-result').textContent(), { timeout: 20_000 }).toMatch(/^rollback sent to 1 device/);
    const [jws] = await received;
    await sub.endAsync();
    const { doc } = await readSigned('command', jws!, await loadTrustedKeys(join(keyDir, 'release.pub.jwks')));
    expect(doc).toMatchObject({ target: { device: id(7) }, action: { type: 'rollback' } });
    await page.close();
  });

  it("shows the group's retained release: manifest, package changes and delta sizes", async () => {
    const { page } = await loggedIn();
    await page.goto(`${dash.url}/#/releases`);
    await page.waitForSelector('main[data-state="ready"] table');
    await page.click('text=1.1');
    await page.waitForSelector('text=Package changes since 1.0');
    const text = await page.locator('main').innerText();
    expect(text).toContain('2026b-0+deb12u1 → 2026f-0+deb12u1');
    expect(text).toMatch(/1\.0\s+231\.4 KiB/);
    await screenshot(page, 'release');
    await page.close();
  });

  it('is usable with the keyboard: filter, then Tab to a device and Enter opens its page', async () => {
    const { page } = await loggedIn();
    await page.focus('#filter');
    await page.keyboard.type(id(4));
    await expect.poll(() => page.locator('#devices tbody tr').count()).toBe(1);
    let focused = '';
    for (let i = 0; i < 10 && focused !== id(4); i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate('document.activeElement?.textContent ?? ""');
    }
    expect(focused).toBe(id(4));
    await page.keyboard.press('Enter');
    await page.waitForSelector('#facts');
    expect(await page.locator('h1').innerText()).toBe(`Device ${id(4)}`);
    await page.close();
  });

  it('is readable on a narrow screen', async () => {
    const { page } = await loggedIn({ width: 380 });
    await page.waitForSelector(`tr[data-device="${id(1)}"]`);
    // The table scrolls inside its region; the page itself does not grow wider than the screen.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(380);
    await screenshot(page, 'fleet-narrow');
    await page.close();
  });
});
