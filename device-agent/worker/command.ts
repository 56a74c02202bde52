/**
 * `ota-agent worker command` (docs/agent.md, "The worker protocol"): a signed command on stdin. In order: it
 * must verify with a trusted key (readSigned), be for this device or its group, carry a nonce never seen
 * (remembered in `<stateDir>/nonces.json` before anything acts), and be possible now (decideCommand). A refusal
 * is one `command-refused` event (untrusted) with its reason and changes nothing; an accepted command is a
 * `command-received` event (updateId: its nonce), its action, then `command-completed` or `command-failed`.
 *
 * @example
 * await commandJob(ctx, await readInput());
 */
import { OtaError } from '../../common/errors.js';
import { loadTrustedKeys, readSigned, type Command, type Verified } from '../../contract/index.js';
import { StateStore } from '../engine/store.js';
import { actionText, carryOutCommand } from './command-actions.js';
import { signedRefusal, withWorkerAgent, type WorkerContext } from './context.js';
import { decideCommand, targetRefusal } from './dispatch.js';
import { NonceStore } from './nonces.js';
import { readDeviceStatus } from '../cli/read-status.js';
import { claimedNonce } from '../daemon/precheck.js';

export async function commandJob(ctx: WorkerContext, input: string | null): Promise<void> {
  await handleCommand(ctx, input);
  ctx.lines.write({ type: 'done', nextWakeMs: null, polled: false });
}

async function handleCommand(ctx: WorkerContext, input: string | null): Promise<void> {
  // No journal line of its own: the relay journals untrusted events through its bad-input rate limit, so a
  // flood of bad commands cannot fill the disk through the workers' stderr.
  const refuse = (reason: string, updateId: string | null = null) => ctx.feed.event({ type: 'command-refused', updateId, reason }, true);
  if (input === null) return refuse('malformed: the command is not UTF-8');
  let verified: Verified<Command>;
  try {
    verified = await readSigned('command', input.trim(), await loadTrustedKeys(ctx.config.trustedKeys), { now: ctx.now() });
  } catch (e) {
    const reason = signedRefusal(e);
    if (reason === null) throw e;
    // Unverified, the nonce only ties the refusal to the command that claims it (docs/fleet.md, "ota fleet rollback").
    return refuse(reason, claimedNonce(input));
  }
  const { doc: command, nonce } = verified;
  if (nonce === undefined) throw new Error('readSigned returned a command without its nonce, this is a bug');
  const other = targetRefusal(command, ctx.config);
  if (other !== null) return refuse(`not-for-this-device: ${other}`, nonce);
  try {
    const admitted = await new NonceStore(ctx.config.stateDir).admit(nonce, verified.expiresAt, ctx.now());
    if (!admitted.ok) return refuse(`${admitted.reason}: command ${nonce}${admitted.reason === 'replayed' ? ' was seen before' : ': too many unexpired commands'}`, nonce);
  } catch (e) {
    if (!(e instanceof OtaError)) throw e;
    return refuse(`nonce-store: ${e.message}`, nonce);
  }
  const record = await new StateStore({ dir: ctx.config.stateDir }).load();
  const decision = decideCommand({ command, record, device: ctx.config, bootedVersion: await bootedVersionFor(ctx, command) });
  if (decision.kind === 'refuse') return refuse(`${decision.reason}: ${decision.detail}`, nonce);
  const why = command.reason === null ? '' : ` (${command.reason})`;
  ctx.feed.event({ type: 'command-received', updateId: nonce, reason: `${actionText(decision)}${why}` });
  ctx.log('info', `command ${nonce}: ${actionText(decision)}${why}`);
  const result = await withWorkerAgent(ctx, (agent) => carryOutCommand({ ctx, agent, decision, nonce })).catch((e: unknown) => {
    if (!(e instanceof OtaError)) throw e;
    return { ok: false, text: e.message };
  });
  ctx.feed.event({ type: result.ok ? 'command-completed' : 'command-failed', updateId: nonce, reason: result.text });
  ctx.log(result.ok ? 'info' : 'warning', `command ${nonce}: ${result.ok ? 'completed' : 'failed'}: ${result.text}`);
}

/** The booted version, read only when the command's `onlyFrom` needs it (reading the sysroot costs a libostree open). */
async function bootedVersionFor(ctx: WorkerContext, command: Command): Promise<string | null | undefined> {
  if (command.action.type !== 'rollback' || command.action.onlyFrom === undefined) return undefined;
  const { status } = await readDeviceStatus(ctx.config, { agentVersion: 'worker', now: ctx.now() });
  return status.deployments.booted?.version ?? null;
}
