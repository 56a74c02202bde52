/**
 * One simulated device of bench/fleet: the agent's own MQTT, trust and state-machine code in this
 * process, no child per device. The relay's parts as they are: its MQTT session
 * (common/mqtt/session.ts, persistent, reconnecting with jitter), its pre-check of each message
 * (precheck.ts) and its publisher (status limiter, outbox). The workers' decisions as they are:
 * readSigned with the device's trusted keys, the rollout's gate (admitRollout, releaseGate),
 * the command's target, nonce and decision (targetRefusal, admitNonce, decideCommand), and the
 * engine (AgentMachine) whose saves make the status documents and events (statusDocument,
 * eventForSave). Jobs run one at a time per device, as the relay's queue runs its workers. What
 * is not the agent's: the disk, OSTree and the reboot (stand-in.ts, a recorded stand-in).
 */
import { API_VERSION, readSigned, type Rollout, type TrustedKeys } from '../../contract/index.js';
import { topics, type Topics } from '../../contract/topics.js';
import { MqttSession } from '../../common/mqtt/session.js';
import type { AgentDeps } from '../../device-agent/engine/deps.js';
import { AgentMachine } from '../../device-agent/engine/machine.js';
import type { AgentRecord } from '../../device-agent/engine/record.js';
import { statusDocument } from '../../device-agent/cli/status.js';
import { precheckMessage, type PrecheckContext } from '../../device-agent/daemon/precheck.js';
import { Publisher } from '../../device-agent/daemon/publisher.js';
import { decideCommand, targetRefusal } from '../../device-agent/worker/dispatch.js';
import { eventDocument, eventForSave, type EventNote } from '../../device-agent/worker/feed.js';
import { admitNonce, type SeenNonces } from '../../device-agent/worker/nonces.js';
import { admitRollout, jwsSha256, releaseGate } from '../../device-agent/worker/rollout-gate.js';
import { memoryBootloader, memoryStore, recordedStandInSteps, SimSysroot, standInBoot, type Deployed } from './stand-in.js';

export interface SimDeviceOptions {
  id: string;
  group: string;
  prefix: string;
  url: string;
  trusted: TrustedKeys;
  running: Deployed;
  previous: Deployed | null;
  /** Counts each call of the recorded stand-in, by step. */
  recorded: Map<string, number>;
}

const AGENT_VERSION = 'bench-sim';

export class SimDevice {
  readonly sysroot: SimSysroot;
  private readonly t: Topics;
  private readonly store = memoryStore();
  private readonly bl = memoryBootloader();
  private readonly machine: AgentMachine;
  private readonly publisher: Publisher;
  private readonly pre: PrecheckContext;
  private session: MqttSession | null = null;
  private chain: Promise<void> = Promise.resolve();
  private heard: string | null = null;
  private rollout: { doc: Rollout; jws: string; issuedAt: Date } | null = null;
  private nonces: SeenNonces = {};
  private shown: string | null = null;
  /** The phase of the last status published. */
  phase = 'idle';

  constructor(private readonly o: SimDeviceOptions) {
    this.t = topics(o.prefix);
    this.sysroot = new SimSysroot(o.running, o.previous);
    const record = (step: string) => o.recorded.set(step, (o.recorded.get(step) ?? 0) + 1);
    const deps: AgentDeps = {
      sysroot: this.sysroot,
      bootloader: this.bl,
      update: recordedStandInSteps({ sysroot: this.sysroot, trusted: o.trusted, heardRelease: () => this.heard, record }),
      health: { run: () => Promise.resolve({ ok: true, deadlineHit: false, required: [], wanted: [] }) },
      policy: { reboot: 'auto', mayApply: () => true },
      clock: { now: () => new Date() },
      // The stand-in reboot: the device comes up again at once, the stand-in boot picks the entry,
      // and the agent's first tick after a start resumes the update (docs/agent.md, "The worker protocol").
      reboot: () => {
        record('reboot');
        setImmediate(() => this.job(async () => {
          await standInBoot(this.sysroot, this.bl);
          await this.machine.resume();
        }));
        return Promise.resolve();
      },
      emit: () => {},
    };
    this.machine = new AgentMachine({ store: this.store, deps, onSaved: (r) => this.saved(r) });
    this.publisher = new Publisher({ session: () => this.session, topics: this.t, device: o.id, statusMinIntervalMs: 1000, log: () => {}, now: Date.now });
    this.pre = { releaseTopic: this.t.groupRelease(o.group), rolloutTopic: this.t.groupRollout(o.group), commandTopic: this.t.deviceCommands(o.id), groupCommandTopic: this.t.groupCommands(o.group), maxPayloadBytes: 4 * 1024 * 1024, trustedKids: [...o.trusted.byKid.keys()] };
  }

  /** Connects (resolves at the first CONNACK and its subscriptions), then publishes presence and status. */
  async start(): Promise<void> {
    let up!: () => void;
    const connected = new Promise<void>((r) => (up = r));
    this.session = await MqttSession.open({
      connect: { url: this.o.url, clientId: this.o.id },
      keepaliveSeconds: 60,
      sessionExpirySeconds: 3600,
      reconnect: { minMs: 1000, maxMs: 30_000 },
      will: () => this.presence(false),
      // The rollout first, as the relay subscribes: a release must find its group's rollout held.
      subscriptions: [this.pre.rolloutTopic, this.pre.releaseTopic, this.pre.groupCommandTopic, this.pre.commandTopic].map((topic) => ({ topic, qos: 1 as const })),
      handlers: {
        onUp: () => {
          this.publisher.flush();
          this.session!.publish({ topic: this.t.deviceOnline(this.o.id), payload: JSON.stringify(this.presence(true).doc), qos: 1, retain: true });
          this.job(() => this.report());
          up();
        },
        onDown: () => {},
        onMessage: (topic, payload) => this.onMessage(topic, payload),
      },
    });
    this.session.start();
    await connected;
  }

  async stop(): Promise<void> {
    this.publisher.stop();
    await this.session?.stop(this.presence(false));
  }

  private presence(online: boolean) {
    const doc = { apiVersion: API_VERSION, kind: 'Presence', device: this.o.id, online, agentVersion: AGENT_VERSION, connectedAt: new Date().toISOString() };
    return { topic: this.t.deviceOnline(this.o.id), payload: JSON.stringify(doc), qos: 1 as const, retain: true, doc };
  }

  private job(work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((e: unknown) => console.error(`${this.o.id}: ${e instanceof Error ? e.message : String(e)}`));
  }

  private onMessage(topic: string, payload: Buffer): void {
    const r = precheckMessage(topic, payload, this.pre);
    if (!r.ok) return this.event({ type: r.kind === 'command' ? 'command-refused' : 'refused', updateId: null, reason: `${r.reason}: ${r.detail}` });
    if (r.kind === 'release') {
      if (r.jws === this.heard) return;
      this.heard = r.jws;
      this.job(() => this.release(r.jws));
    } else if (r.kind === 'rollout') this.job(() => this.acceptRollout(r.jws));
    else this.job(() => this.command(r.jws));
  }

  private async release(jws: string): Promise<void> {
    let doc;
    try {
      doc = (await readSigned('release', jws, this.o.trusted)).doc;
    } catch (e) {
      return this.event({ type: 'refused', updateId: null, reason: (e as Error).message });
    }
    const record = await this.store.load();
    if (doc.commit === this.sysroot.booted || record.state !== 'idle') return;
    const gate = releaseGate({ rollout: this.rollout?.doc ?? null, deviceId: this.o.id, release: { version: doc.version, sha256: jwsSha256(jws) } });
    if (!gate.go) return this.event({ type: 'rollout-waiting', updateId: doc.version, reason: gate.reason });
    await this.machine.check({ id: doc.version, intent: 'upgrade', releaseJws: jws, downloadOnly: false });
  }

  private async acceptRollout(jws: string): Promise<void> {
    try {
      const v = await readSigned('rollout', jws, this.o.trusted);
      const verdict = admitRollout({ incoming: { doc: v.doc, jws, issuedAt: v.issuedAt }, held: this.rollout, group: this.o.group });
      if (!verdict.accept) return;
      this.rollout = { doc: v.doc, jws, issuedAt: v.issuedAt };
    } catch (e) {
      return this.event({ type: 'refused', updateId: null, reason: (e as Error).message });
    }
    if (this.heard !== null) await this.release(this.heard);
  }

  private async command(jws: string): Promise<void> {
    let v;
    try {
      v = await readSigned('command', jws, this.o.trusted);
    } catch (e) {
      return this.event({ type: 'command-refused', updateId: null, reason: (e as Error).message });
    }
    const nonce = v.nonce!;
    const other = targetRefusal(v.doc, { deviceId: this.o.id, group: this.o.group });
    if (other !== null) return this.event({ type: 'command-refused', updateId: nonce, reason: `not-for-this-device: ${other}` });
    const admitted = admitNonce(this.nonces, nonce, Math.floor(v.expiresAt.getTime() / 1000), Math.floor(Date.now() / 1000));
    if (!admitted.ok) return this.event({ type: 'command-refused', updateId: nonce, reason: admitted.reason });
    this.nonces = admitted.seen;
    const booted = this.sysroot.list.find((d) => d.commit === this.sysroot.booted)?.version ?? null;
    const d = decideCommand({ command: v.doc, record: await this.store.load(), device: { deviceId: this.o.id, group: this.o.group }, bootedVersion: booted });
    if (d.kind === 'refuse') return this.event({ type: 'command-refused', updateId: nonce, reason: `${d.reason}: ${d.detail}` });
    this.event({ type: 'command-received', updateId: nonce, reason: d.kind });
    if (d.kind === 'update') await this.machine.check({ id: nonce, intent: 'upgrade', downloadOnly: false });
    else if (d.kind === 'rollback') await this.machine.check({ id: nonce, intent: 'rollback' });
    else if (d.kind === 'report') await this.report();
    this.event({ type: 'command-completed', updateId: nonce, reason: d.kind });
  }

  private async report(): Promise<void> {
    this.status(await this.store.load(), true);
  }

  private saved(record: AgentRecord): void {
    this.status(record, false);
  }

  private status(record: AgentRecord, force: boolean): void {
    const now = new Date();
    const doc = statusDocument({ deviceId: this.o.id, group: this.o.group, agentVersion: AGENT_VERSION, now, deployments: this.sysroot.statusDeployments(), record: { record } });
    const key = `${doc.phase} ${doc.updateId ?? ''}`;
    if (!force && key === this.shown) return;
    this.shown = key;
    this.phase = doc.phase;
    this.publisher.status(doc);
    const note = eventForSave(record, now);
    if (!force && note !== null) this.event(note);
  }

  private event(note: EventNote): void {
    this.publisher.event(eventDocument(this.o.id, note, new Date()));
  }
}
