import { describe, expect, it } from 'vitest';
import { JWS_TYP, MAX_JWS_CHARS } from '../../../contract/kinds.js';
import { signDocument } from '../../../contract/sign.js';
import { claimedNonce, precheckMessage, type PrecheckContext } from '../../../device-agent/daemon/precheck.js';
import { generateSigningKey } from '../../../contract/keys.js';

const ctx: PrecheckContext = { releaseTopic: 'ota/groups/lab/release', rolloutTopic: 'ota/groups/lab/rollout', commandTopic: 'ota/devices/gw-1/commands', groupCommandTopic: 'ota/groups/lab/commands', maxPayloadBytes: 4 * 1024 * 1024, trustedKids: ['k1'] };
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jws = (header: unknown, body = '{}') => Buffer.from(`${b64(header)}.${Buffer.from(body).toString('base64url')}.c2ln`);
const cmd = (h: Record<string, unknown> = {}) => jws({ alg: 'EdDSA', typ: 'deb-ota-command+jws', kid: 'k1', ...h });

describe('precheckMessage', () => {
  it('lets a well-shaped command and release through, as text', () => {
    expect(precheckMessage(ctx.commandTopic, cmd(), ctx)).toMatchObject({ ok: true, kind: 'command' });
    expect(precheckMessage(ctx.groupCommandTopic, cmd(), ctx)).toMatchObject({ ok: true, kind: 'command' });
    expect(precheckMessage('ota/groups/other/commands', cmd(), ctx)).toMatchObject({ ok: false, reason: 'topic' });
    const release = jws({ alg: 'EdDSA', typ: 'deb-ota-release+jws', kid: 'k1' });
    expect(precheckMessage(ctx.releaseTopic, release, ctx)).toEqual({ ok: true, kind: 'release', jws: release.toString() });
  });

  it("takes the group's rollout with its own typ, and refuses a release's typ on that topic", () => {
    const rollout = jws({ alg: 'EdDSA', typ: 'deb-ota-rollout+jws', kid: 'k1' });
    expect(precheckMessage(ctx.rolloutTopic, rollout, ctx)).toEqual({ ok: true, kind: 'rollout', jws: rollout.toString() });
    const release = jws({ alg: 'EdDSA', typ: 'deb-ota-release+jws', kid: 'k1' });
    expect(precheckMessage(ctx.rolloutTopic, release, ctx)).toMatchObject({ ok: false, kind: 'rollout', reason: 'typ' });
    expect(precheckMessage(ctx.releaseTopic, rollout, ctx)).toMatchObject({ ok: false, kind: 'release', reason: 'typ' });
  });

  it('lets through what the contract itself signed, with its own typ and kid', async () => {
    const key = await generateSigningKey();
    const signed = await signDocument('command', { apiVersion: 'deb-ota/v1', kind: 'Command', target: { device: 'gw-1' }, action: { type: 'report' }, reason: null }, key);
    expect(precheckMessage(ctx.commandTopic, Buffer.from(signed), { ...ctx, trustedKids: [key.kid] })).toMatchObject({ ok: true });
  });

  it('refuses each bad input with its reason, before anything else reads it', () => {
    const cases: [Uint8Array, string, string?][] = [
      [Buffer.alloc(16 * 1024 + 1, 'a'), 'too-large'],
      [Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'malformed', 'not UTF-8'],
      [Buffer.from('{"action":"reboot"}'), 'malformed', 'three base64url parts'],
      [Buffer.from('a.b'), 'malformed'],
      [Buffer.from(`${Buffer.from('not json').toString('base64url')}.e30.c2ln`), 'malformed', 'not JSON'],
      [jws([1, 2]), 'malformed', 'not a JSON object'],
      [cmd({ alg: 'none' }), 'alg'],
      [cmd({ alg: 'HS256' }), 'alg'],
      [cmd({ typ: 'deb-ota-release+jws' }), 'typ'],
      [cmd({ kid: 'someone-else' }), 'kid', 'not a trusted key'],
      [cmd({ kid: undefined }), 'kid', 'no kid'],
    ];
    for (const [payload, reason, detail] of cases) {
      const r = precheckMessage(ctx.commandTopic, payload, ctx);
      expect(r, reason).toMatchObject({ ok: false, kind: 'command', reason });
      if (detail !== undefined && !r.ok) expect(r.detail).toContain(detail);
    }
  });

  it('applies the smaller of mqtt.maxPayloadBytes and the kind limit', () => {
    const release = jws({ alg: 'EdDSA', typ: 'deb-ota-release+jws', kid: 'k1' }, 'x'.repeat(5000));
    expect(precheckMessage(ctx.releaseTopic, release, ctx)).toMatchObject({ ok: true });
    expect(precheckMessage(ctx.releaseTopic, release, { ...ctx, maxPayloadBytes: 4096 })).toMatchObject({ ok: false, reason: 'too-large' });
  });

  it('leaves the kid to the worker when the trusted kids are unknown', () => {
    expect(precheckMessage(ctx.commandTopic, cmd({ kid: 'anyone' }), { ...ctx, trustedKids: null })).toMatchObject({ ok: true });
  });

  it('refuses a topic it does not subscribe to, with no kind', () => {
    expect(precheckMessage('ota/devices/gw-2/commands', cmd(), ctx)).toMatchObject({ ok: false, kind: null, reason: 'topic' });
  });

  it('uses the contract limits and typs (the relay imports them without zod)', () => {
    expect(JWS_TYP.command).toBe('deb-ota-command+jws');
    expect(MAX_JWS_CHARS.command).toBe(16 * 1024);
  });
});

describe('claimedNonce: the nonce a refused command claims, read untrusted', () => {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  it('reads jti from the payload, or null for anything else', () => {
    expect(claimedNonce(`${b64({ alg: 'EdDSA' })}.${b64({ jti: 'n-1', exp: 1 })}.sig`)).toBe('n-1');
    expect(claimedNonce(`${b64({ alg: 'EdDSA' })}.${b64({ exp: 1 })}.sig`)).toBeNull();
    expect(claimedNonce(`${b64({ alg: 'EdDSA' })}.${b64({ jti: 'x'.repeat(129) })}.sig`)).toBeNull();
    expect(claimedNonce(`${b64({ alg: 'EdDSA' })}.${b64({ jti: 7 })}.sig`)).toBeNull();
    expect(claimedNonce('a.!!.c')).toBeNull();
    expect(claimedNonce('not a jws')).toBeNull();
  });
});
