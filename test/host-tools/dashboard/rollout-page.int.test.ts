import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type Started } from '../../../common/exec.js';
import { API_VERSION, loadSigningKey, loadTrustedKeys, readSigned, rolloutBucket, signDocument, topics } from '../../../contract/index.js';
import { launchChromium, screenshot, type TestBrowser } from '../../helpers/browser.js';
import { ota } from '../../helpers/cli.js';
import { COMMIT, devicePublisher, presenceOf, statusOf, type DevicePublisher } from '../../helpers/fleet-devices.js';
import { startMosquitto, subscribeOnce, type Mosquitto } from '../../helpers/mosquitto.js';
import { startOtaDashboard, type OtaDashboard } from '../../helpers/ota-dashboard.js';

// A rollout started from the CLI (`ota fleet rollout` as its own process) and followed on the
// dashboard's rollouts page in Debian's chromium. The devices are simulated at the broker: the
// test publishes, as their agents would, the retained status of each device in a wave once it
// "took" the release (documents built with the contract's schemas). The rollout id is chosen
// with the contract's bucket function so that the first wave holds one or two of the ten devices.
const GROUP = 'canary';
const DEVICES = Array.from({ length: 10 }, (_, i) => `ro-${String(i + 1).padStart(2, '0')}`);
const WAVES = [1000, 5000, 10_000];
const OTA_CLI = join(import.meta.dirname, '../../helpers/ota-cli.ts');

const inWave = (id: string, wave: number) => DEVICES.filter((d) => rolloutBucket(id, d) < WAVES[wave]!);
const pick = (prefix: string) => Array.from({ length: 200 }, (_, i) => `${prefix}-${i}`).find((id) => [1, 2].includes(inWave(id, 0).length) && inWave(id, 1).length > inWave(id, 0).length)!;
const ROLLOUT_ID = pick('r-dash');
const HALT_ID = pick('r-halt');

let broker: Mosquitto;
let pub: DevicePublisher;
let dash: OtaDashboard;
let chrome: TestBrowser;
let dir: string;
let controller: Started | undefined;
let controllerLog = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-dashboard-rollout-'));
  broker = await startMosquitto();
  pub = await devicePublisher(broker.url);
  for (const d of DEVICES) {
    await pub.retain(statusOf(d, { group: GROUP, booted: '1.0' }));
    await pub.retain(presenceOf(d, true));
  }
  const keyDir = join(dir, 'keys');
  expect((await ota('keys', 'generate', keyDir)).code).toBe(0);
  for (const [version, n] of [['2.0', 20], ['3.0', 30]] as const) {
    const manifest = { apiVersion: API_VERSION, kind: 'Release', ref: 'gateway/arm64', version, commit: COMMIT(n), subject: null, board: null, arch: 'arm64', minVersion: null, group: GROUP, publishedAt: '2026-03-02T10:00:00Z', deltas: [], fullPullBytes: 1000, unpackedBytes: 4096, packages: [], changes: { previousVersion: '1.0', added: [], removed: [], changed: [] } };
    await writeFile(join(dir, `${version}.jws`), await signDocument('release', manifest, await loadSigningKey(keyDir)));
  }
  dash = await startOtaDashboard(broker.url, ['--signing-key', keyDir, '--rollout-state', join(dir, 'state')]);
  chrome = await launchChromium();
}, 60_000);

afterAll(async () => {
  controller?.kill('SIGTERM');
  await controller?.exited.catch(() => {});
  await chrome?.close();
  await dash?.stop();
  await pub?.close();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function startController(version: string, id: string): Started {
  const args = ['fleet', 'rollout', '--group', GROUP, '--release', join(dir, `${version}.jws`), '--key', join(dir, 'keys'), '--broker', broker.url, '--waves', '10%,50%,100%', '--soak', '0', '--state', join(dir, 'state', `${GROUP}.json`), '--id', id];
  controllerLog = '';
  const c = start('ota fleet rollout', [process.execPath, '--import', 'tsx', OTA_CLI, ...args], { env: { ...process.env, CI: '1' } });
  c.onStderr((t) => (controllerLog += t));
  return c;
}

/** The devices of a wave report the release booted and idle: what their agents publish after a good update. */
async function succeed(devices: string[]): Promise<void> {
  for (const d of devices) await pub.retain(statusOf(d, { group: GROUP, booted: '2.0', phase: 'idle' }));
}

describe('the rollouts page (ota fleet rollout as a process, devices simulated at the broker)', () => {
  it('shows a rollout progress without a reload; its pause button pauses it for the CLI too, and it aborts with a rollback', async () => {
    const { page, console } = await chrome.page();
    await page.goto(dash.loginUrl!);
    await page.goto(`${dash.url}/#/rollouts`);
    await page.waitForSelector('main[data-state="ready"]');
    await page.evaluate(() => ((globalThis as unknown as { __sameDocument: boolean }).__sameDocument = true));
    controller = startController('2.0', ROLLOUT_ID);
    const section = page.locator(`section.rollout[data-group="${GROUP}"]`);
    await section.waitFor({ timeout: 30_000 });
    const waveRow = (n: number) => section.locator('tbody tr').nth(n);
    await expect.poll(() => waveRow(0).innerText(), { timeout: 15_000 }).toMatch(new RegExp(`^1 \\(current\\)\\s+10%\\s+${inWave(ROLLOUT_ID, 0).length}\\s+0\\s+0`));
    await succeed(inWave(ROLLOUT_ID, 0));
    // Wave 1 succeeds on the page, and the controller (soak 0) starts wave 2: both seen without a reload.
    await expect.poll(() => waveRow(1).innerText(), { timeout: 20_000 }).toMatch(/^2 \(current\)\s+50%/);
    expect(await waveRow(0).innerText()).toMatch(new RegExp(`^1\\s+10%\\s+${inWave(ROLLOUT_ID, 0).length}\\s+${inWave(ROLLOUT_ID, 0).length}\\s+0`));
    await page.click(`section.rollout[data-group="${GROUP}"] button[data-action="pause"]`);
    await expect.poll(() => section.locator('[data-phase]').textContent(), { timeout: 15_000 }).toBe('paused');
    // The CLI sees it: the running controller reports the pause, and the retained document says so, signed.
    await expect.poll(() => controllerLog, { timeout: 15_000 }).toMatch(/wave 2\/3 \(50%\) paused/);
    const [jws] = await subscribeOnce(broker.url, topics().groupRollout(GROUP));
    const { doc } = await readSigned('rollout', jws!, await loadTrustedKeys(join(dir, 'keys', 'release.pub.jwks')));
    expect(doc).toMatchObject({ id: ROLLOUT_ID, state: 'paused', wave: { index: 1, basisPoints: 5000 } });
    expect(await page.evaluate(() => (globalThis as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    expect(await section.locator('figure.chart polyline').count()).toBeGreaterThan(0);
    await screenshot(page, 'rollout');
    // Abort and roll back: one signed group command, only for the devices on the release.
    const command = subscribeOnce(broker.url, topics().groupCommands(GROUP), { timeoutSeconds: 30 });
    await new Promise((r) => setTimeout(r, 300)); // mosquitto_sub subscribed
    page.once('dialog', (d) => void d.accept());
    await page.click(`section.rollout[data-group="${GROUP}"] button[data-action="abort-rollback"]`);
    await expect.poll(() => section.locator('[data-phase]').textContent(), { timeout: 15_000 }).toBe('aborted');
    const [cmd] = await command;
    const signed = await readSigned('command', cmd!, await loadTrustedKeys(join(dir, 'keys', 'release.pub.jwks')));
    expect(signed.doc).toMatchObject({ target: { group: GROUP }, action: { type: 'rollback', onlyFrom: '2.0' } });
    await expect.poll(() => page.locator('#action-result').textContent(), { timeout: 15_000 }).toMatch(/rollback sent to the \d+ devices on 2\.0/);
    const exit = await controller.exited;
    expect(`${exit.stdout}${exit.stderr}`).toMatch(/aborted/);
    expect(console.filter((l) => /Content Security Policy|pageerror/i.test(l))).toEqual([]);
    await page.close();
  });

  it('shows why a rollout halted, and which devices failed', async () => {
    const { page } = await chrome.page();
    await page.goto(dash.loginUrl!);
    await page.goto(`${dash.url}/#/rollouts/${GROUP}`);
    await page.waitForSelector('main[data-state="ready"]');
    const id = HALT_ID;
    controller = startController('3.0', id);
    const section = page.locator(`section.rollout[data-group="${GROUP}"]`);
    await expect.poll(() => section.locator('h2').innerText(), { timeout: 30_000 }).toMatch(/3\.0/);
    const failing = inWave(id, 0);
    for (const d of failing) await pub.retain(statusOf(d, { group: GROUP, booted: '1.0', phase: 'failed', updateId: '3.0', lastError: { code: 'update-failed', message: 'update 3.0: health check failed', at: new Date().toISOString() } }));
    await expect.poll(() => section.locator('[data-phase]').textContent(), { timeout: 20_000 }).toBe('halted');
    expect(await section.locator('p.halt[role="alert"]').innerText()).toMatch(/^halted: wave 1 \(10%\).*failed, over the 5% allowed/);
    expect(await section.locator('p.halt a').allInnerTexts()).toEqual(failing);
    const exit = await controller.exited;
    expect(exit.code).not.toBe(0);
    expect(exit.stderr).toMatch(/halted/);
    await screenshot(page, 'rollout-halted');
    await page.close();
  });
});
