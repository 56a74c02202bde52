/**
 * The real `ota-agent worker <job>` as a separate process against a harness device (agent/device.ts), fed on
 * stdin as the relay feeds it, its JSON lines read back; and signed inputs made with the contract's
 * signDocument and the fleet's own release key (or a stranger's).
 */
import { join } from 'node:path';
import { CompactSign } from 'jose';
import { run, start, type Started } from '../../../common/exec.js';
import { JWS_TYP, loadSigningKey, signDocument, type Command, type CommandAction, type CommandTarget, type SigningKey } from '../../../contract/index.js';
import type { WorkerLine } from '../../../device-agent/worker/lines.js';
import { bundledChild } from '../../helpers/bundled-child.js';
import type { Device, Fleet } from '../agent/device.js';

const REPO = join(import.meta.dirname, '../../..');
const CLI = join(REPO, 'test/helpers/ota-agent-cli.ts');
const ANY_EXIT = Array.from({ length: 256 }, (_, i) => i);

export interface WorkerRun {
  code: number;
  lines: WorkerLine[];
  stderr: string;
}

/** `ota-agent worker JOB --root <device root> ARGS...` with `input` on stdin, to its end. */
export async function worker(d: Device, job: string, input: string | Buffer = '', ...args: string[]): Promise<WorkerRun> {
  const argv = [process.execPath, await bundledChild(CLI), 'worker', job, '--root', d.root, ...args];
  const r = await run(`ota-agent worker ${job}`, argv, { cwd: REPO, okCodes: ANY_EXIT, input });
  return { code: r.code, lines: parseLines(r.stdout), stderr: r.stderr };
}

/** The same, running beside the test (to signal it), with stdin closed: for the jobs that read none (tick, report). */
export async function startWorker(d: Device, job: string, ...args: string[]): Promise<Started> {
  return start(`ota-agent worker ${job}`, [process.execPath, await bundledChild(CLI), 'worker', job, '--root', d.root, ...args], { cwd: REPO });
}

/** A worker's stdout as its lines. */
export const parseLines = (stdout: string): WorkerLine[] => stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as WorkerLine);

/** The event lines, as `type` or `type:reason-prefix` when `withReason`. */
export function events(r: WorkerRun): { type: string; reason: string | null; updateId: string | null; untrusted: boolean }[] {
  return r.lines.flatMap((l) => (l.type === 'event' ? [{ type: l.doc.type, reason: l.doc.reason, updateId: l.doc.updateId, untrusted: l.untrusted }] : []));
}

/** The phases of the status lines, in order. */
export function phases(r: WorkerRun): string[] {
  return r.lines.flatMap((l) => (l.type === 'status' ? [l.doc.phase] : []));
}

/** The fleet's release key: what the devices trust. */
export const releaseKey = (f: Fleet): Promise<SigningKey> => loadSigningKey(f.publisher.keyDir);

export interface CommandOptions {
  target?: CommandTarget;
  now?: Date;
  expiresInSeconds?: number;
  nonce?: string;
}

/** A command for the harness's device (gw-0001), signed by `key`. */
export async function signCommand(key: SigningKey, action: CommandAction, o: CommandOptions = {}): Promise<string> {
  const doc: Command = { apiVersion: 'deb-ota/v1', kind: 'Command', target: o.target ?? { device: 'gw-0001' }, action, reason: 'test' };
  return signDocument('command', doc, key, { ...(o.now ? { now: o.now } : {}), ...(o.expiresInSeconds ? { expiresInSeconds: o.expiresInSeconds } : {}), ...(o.nonce ? { nonce: o.nonce } : {}) });
}

/**
 * A JWS signed by `key` around any payload, with the kind's header and fresh claims: what signDocument refuses
 * to make (a document that breaks its schema: an unknown key, an unknown command).
 */
export async function signRaw(key: SigningKey, kind: 'release' | 'command', doc: object): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  const payload = { ...doc, iat, nbf: iat, exp: iat + 600, ...(kind === 'command' ? { jti: `raw-${iat}-${Math.random()}` } : {}) };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'EdDSA', typ: JWS_TYP[kind], kid: key.kid }).sign(key.privateKey);
}
