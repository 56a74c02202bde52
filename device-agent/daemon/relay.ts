import { watch } from 'node:fs';
import { stat } from '../../common/lean-fs.js';
import { join } from 'node:path';
import type { DeviceEvent } from '../../contract/documents/event.js';
import type { Presence } from '../../contract/documents/presence.js';
import { API_VERSION } from '../../contract/limits.js';
import { topics, type Topics } from '../../contract/topics.js';
import { isoNow } from '../../common/iso-time.js';
import { MqttSession, type Publication } from '../../common/mqtt/session.js';
import { claimedNonce, precheckMessage, type PrecheckContext } from './precheck.js';
import { Publisher, type LogLevel } from './publisher.js';
import { admit, emptyQueue, take, type Job, type Queue } from './queue.js';
import type { RelayConfig } from './relay-config.js';
import { nextTick, type ScheduleState } from './schedule.js';
import { startTelemetry } from './telemetry-loop.js';
import { runWorker, type WorkerRun } from './worker-run.js';

/**
 * The relay (docs/agent.md, "The daemon and its workers"): the thin shell that wires the pure
 * parts (pre-check, queue, outbox, limits, schedule) to mqtt.js, timers, child processes and
 * fs.watch. It decides nothing about updates: workers do, one at a time.
 *
 * @example
 * const relay = new Relay({ config, root: '/', agentVersion: '0.1.0', password, log });
 * await relay.start();
 * process.once('SIGTERM', () => void relay.stop());
 */
export interface RelayOptions {
  config: RelayConfig;
  /** The --root the workers get. */
  root: string;
  agentVersion: string;
  password: string | undefined;
  log: (level: LogLevel, text: string) => void;
}

/** How often state.json's mtime is looked at, beside fs.watch (which may miss a rename on some file systems). */
const STATE_CHECK_MS = 60_000;
const RETRY_TICK_MS = 60_000;
/**
 * How long a release heard with no rollout yet on this connection waits for the group's retained rollout, counted
 * from the end of the subscriptions: a broker may send the release's retained copy first (docs/agent.md, "Rollouts").
 */
export const RELEASE_HOLD_MS = 2000;

export class Relay {
  private readonly topics: Topics;
  private session: MqttSession | null = null;
  private readonly publisher: Publisher;
  private queue: Queue = emptyQueue();
  private running: WorkerRun | null = null;
  private runningJob: Job | null = null;
  private tickDone = false;
  private stopping = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private wakeTimer: NodeJS.Timeout | null = null;
  private readonly watcher = new AbortController();
  /** The state folder did not exist when the watch began: watch again after the next worker. */
  private watchMissing = false;
  private stopTelemetry: () => void = () => {};
  private connectedAt = isoNow();
  private lastRelease: string | null = null;
  /** The last release that passed the pre-check, handled or not: a rollout's worker gates it again. */
  private heardRelease: string | null = null;
  private lastRollout: string | null = null;
  /** A rollout passed the pre-check on this connection: a release heard after it needs no hold. */
  private rolloutHeard = false;
  /** When this connection's subscriptions completed; null while subscribing or away. */
  private upAtMs: number | null = null;
  private holdTimer: NodeJS.Timeout | null = null;
  private lastPollAtMs: number | null = null;
  private pollJitter = 2 * Math.random() - 1;
  private stateMtimeMs: number | null = null;
  private readonly sched: ScheduleState;
  private readonly precheck: PrecheckContext;

  constructor(private readonly o: RelayOptions) {
    const c = o.config;
    this.topics = topics(c.mqtt?.topicPrefix);
    this.precheck = {
      releaseTopic: this.topics.groupRelease(c.group),
      rolloutTopic: this.topics.groupRollout(c.group),
      commandTopic: this.topics.deviceCommands(c.deviceId),
      groupCommandTopic: this.topics.groupCommands(c.group),
      maxPayloadBytes: c.mqtt?.maxPayloadBytes ?? 0,
      trustedKids: c.trustedKids,
    };
    this.sched = {
      wakeAtMs: null,
      brokerAwaySinceMs: null,
      lastAwayPollAtMs: null,
      jitter: 2 * Math.random() - 1,
      brokerAwayMs: (c.mqtt?.brokerAwaySeconds ?? 0) * 1000,
      awayPollMs: (c.mqtt?.awayPollSeconds ?? 0) * 1000,
    };
    this.publisher = new Publisher({ session: () => this.session, topics: this.topics, device: c.deviceId, statusMinIntervalMs: c.mqtt?.statusMinIntervalMs ?? 1000, log: o.log, now: Date.now });
  }

  async start(): Promise<void> {
    const m = this.o.config.mqtt;
    if (m !== null) {
      this.session = await this.openSession(m);
      // Counted from the start: a broker that never answers is away like one that left.
      this.sched.brokerAwaySinceMs = Date.now();
      this.session.start();
      this.stopTelemetry = startTelemetry({ config: this.o.config, intervalSeconds: m.telemetryIntervalSeconds, log: this.o.log, publish: (p) => this.publisher.live(p) });
    }
    this.stateMtimeMs = await this.stateMtime();
    this.watchState();
    this.every(STATE_CHECK_MS, () => void this.checkState());
    // The first tick may follow a boot: only it resumes an update waiting for its reboot.
    this.enqueue({ kind: 'tick', poll: false, afterStart: true });
  }

  /** SIGTERM to the running worker, wait for it, presence offline, disconnect. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.watcher.abort();
    for (const t of this.timers) clearInterval(t);
    if (this.wakeTimer !== null) clearTimeout(this.wakeTimer);
    this.dropHold();
    this.stopTelemetry();
    this.publisher.stop();
    if (this.running !== null) {
      this.running.kill('SIGTERM');
      await this.running.done;
    }
    await this.session?.stop(this.presence(false));
  }

  private openSession(m: NonNullable<RelayConfig['mqtt']>): Promise<MqttSession> {
    const id = this.o.config.deviceId;
    return MqttSession.open({
      connect: {
        url: m.url,
        clientId: id,
        protocol: m.protocol,
        ...(m.caFile !== null ? { caFile: m.caFile } : {}),
        ...(m.certFile !== null ? { certFile: m.certFile } : {}),
        ...(m.keyFile !== null ? { keyFile: m.keyFile } : {}),
        ...(m.username !== null ? { username: m.username } : {}),
        ...(this.o.password !== undefined ? { password: this.o.password } : {}),
      },
      names: { url: 'mqtt.url', ca: 'mqtt.caFile', cert: 'mqtt.certFile', key: 'mqtt.keyFile' },
      keepaliveSeconds: m.keepaliveSeconds,
      sessionExpirySeconds: m.sessionExpirySeconds,
      reconnect: { minMs: m.reconnectMinSeconds * 1000, maxMs: m.reconnectMaxSeconds * 1000 },
      will: () => {
        this.connectedAt = isoNow();
        return this.presence(false);
      },
      // The rollout first: a broker sends retained messages in subscription order, and a release
      // must find its group's rollout held before it is gated (docs/agent.md, "Rollouts").
      subscriptions: [
        { topic: this.precheck.rolloutTopic, qos: 1 },
        { topic: this.precheck.releaseTopic, qos: 1 },
        { topic: this.precheck.commandTopic, qos: 1 },
        { topic: this.precheck.groupCommandTopic, qos: 1 },
      ],
      handlers: {
        onUp: (info) => this.onUp(info.protocol, info.sessionPresent),
        onDown: (info) => this.onDown(info.error?.message ?? 'the connection closed', info.retryInMs),
        onMessage: (topic, payload) => this.onMessage(topic, payload),
      },
    });
  }

  /** Presence; the offline copy is both the last will and what a clean stop publishes. */
  private presence(online: boolean): Publication {
    const doc: Presence = { apiVersion: API_VERSION, kind: 'Presence', device: this.o.config.deviceId, online, agentVersion: this.o.agentVersion, connectedAt: this.connectedAt };
    return { topic: this.topics.deviceOnline(this.o.config.deviceId), payload: JSON.stringify(doc), qos: 1, retain: true };
  }

  private onUp(protocol: string, sessionPresent: boolean): void {
    this.o.log(6, `connected to ${this.session!.url} over MQTT ${protocol}${sessionPresent ? ', session kept' : ''}`);
    this.sched.brokerAwaySinceMs = null;
    this.upAtMs = Date.now();
    // A release held during the subscriptions waits its full window from now, when the retained burst is under way.
    if (this.holdTimer !== null) this.holdRelease();
    this.publisher.flush();
    this.session!.publish(this.presence(true));
    this.enqueue({ kind: 'report' });
    this.reschedule();
  }

  private onDown(why: string, retryInMs: number): void {
    this.sched.brokerAwaySinceMs ??= Date.now();
    // The broker sends the retained release again on the next connection, and it is held again then.
    this.upAtMs = null;
    this.rolloutHeard = false;
    this.dropHold();
    this.o.log(4, `MQTT broker ${this.session!.url}: ${why}; trying again in ${(retryInMs / 1000).toFixed(1)} s`);
    this.reschedule();
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (this.stopping) return;
    const r = precheckMessage(topic, payload, this.precheck);
    if (!r.ok) {
      const type = r.kind === 'command' ? 'command-refused' : 'refused';
      const reason = `${r.reason}: ${r.detail}`;
      const line = `refused a message on ${topic}: ${reason}`;
      // A command's refusal names the nonce it claims, when it can be read (never of an oversized one).
      const nonce = r.kind === 'command' && r.reason !== 'too-large' ? claimedNonce(payload.toString('utf8')) : null;
      if (r.kind === null) this.o.log(4, line);
      else this.publisher.badInput(this.event(type, reason, nonce), line);
      return;
    }
    if (r.kind === 'command') {
      this.enqueue({ kind: 'command', jws: r.jws });
      return;
    }
    if (r.kind === 'release') this.heardRelease = r.jws;
    else this.rolloutHeard = true;
    // A retained release or rollout comes again on every reconnect; the one handled or being handled is skipped.
    const handled = this.handled(r.kind, r.jws);
    if (r.kind === 'rollout') {
      // The rollout job gates the held release itself; a rollout already handled is on disk, and gates a release job.
      const held = this.dropHold();
      if (!handled) this.enqueue({ kind: 'rollout', jws: r.jws, release: this.heardRelease });
      else if (held) this.enqueueHeard();
      return;
    }
    if (handled) return;
    if (!this.rolloutHeard && (this.upAtMs === null || Date.now() - this.upAtMs < RELEASE_HOLD_MS)) this.holdRelease();
    else this.enqueue({ kind: 'release', jws: r.jws });
  }

  /**
   * A release in the retained burst before any rollout: it waits RELEASE_HOLD_MS after the subscriptions for the
   * group's retained rollout, since a broker that streams each subscription's retained messages apart (aedes, in
   * `ota serve`) may send the release first, and a device holding no rollout yet would apply it ungated.
   */
  private holdRelease(): void {
    if (this.holdTimer !== null) clearTimeout(this.holdTimer);
    const left = this.upAtMs === null ? RELEASE_HOLD_MS : Math.max(0, this.upAtMs + RELEASE_HOLD_MS - Date.now());
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      this.enqueueHeard();
    }, left);
  }

  /** Ends a hold; true when one was under way. */
  private dropHold(): boolean {
    if (this.holdTimer === null) return false;
    clearTimeout(this.holdTimer);
    this.holdTimer = null;
    return true;
  }

  private enqueueHeard(): void {
    if (this.heardRelease !== null && !this.handled('release', this.heardRelease)) this.enqueue({ kind: 'release', jws: this.heardRelease });
  }

  private handled(kind: 'release' | 'rollout', jws: string): boolean {
    const last = kind === 'release' ? this.lastRelease : this.lastRollout;
    const running = this.runningJob;
    return jws === last || (running?.kind === kind && running.jws === jws);
  }

  private event(type: DeviceEvent['type'], reason: string, updateId: string | null = null): DeviceEvent {
    return { apiVersion: API_VERSION, kind: 'Event', device: this.o.config.deviceId, updateId, type, reason, time: isoNow() };
  }

  private enqueue(job: Job): void {
    if (this.stopping) return;
    const r = admit(this.queue, job);
    this.queue = r.queue;
    if (r.refused !== null) {
      this.publisher.badInput(this.event('command-refused', 'busy: 16 jobs are waiting'), `refused a ${r.refused.kind}: busy, 16 jobs are waiting`);
    }
    this.pump();
  }

  private pump(): void {
    if (this.running !== null || this.stopping) return;
    const { job, queue } = take(this.queue);
    this.queue = queue;
    if (job === null) return;
    this.runningJob = job;
    this.tickDone = false;
    if (job.kind === 'tick') {
      this.sched.wakeAtMs = null;
      if (job.poll) {
        this.sched.lastAwayPollAtMs = Date.now();
        this.sched.jitter = 2 * Math.random() - 1;
      }
    }
    this.running = runWorker(job, {
      root: this.o.root,
      lastPollAtMs: this.lastPollAtMs,
      jitter: this.pollJitter,
      log: this.o.log,
      onLine: (line) => {
        if (line.type === 'status') this.publisher.status(line.doc);
        else if (line.type === 'event') {
          if (line.untrusted) this.publisher.badInput(line.doc, `refused: ${line.doc.reason ?? line.doc.type}`);
          else this.publisher.event(line.doc);
        } else if (line.type === 'inventory') this.publisher.inventory(line.doc);
        else this.done(line.nextWakeMs, line.polled);
      },
    });
    void this.running.done.then((ok) => this.finished(job, ok));
  }

  private done(nextWakeMs: number | null, polled: boolean): void {
    this.tickDone = true;
    this.sched.wakeAtMs = nextWakeMs === null ? null : Date.now() + nextWakeMs;
    if (polled) {
      this.lastPollAtMs = Date.now();
      this.pollJitter = 2 * Math.random() - 1;
    }
  }

  private async finished(job: Job, ok: boolean): Promise<void> {
    this.running = null;
    this.runningJob = null;
    if (job.kind === 'release' && ok) this.lastRelease = job.jws;
    if (job.kind === 'rollout' && ok) this.lastRollout = job.jws;
    // A tick that failed without saying when to wake is tried again in a minute, as the in-process
    // loop does: without a broker nothing else would ever start the next one.
    if (job.kind === 'tick' && !this.tickDone) this.sched.wakeAtMs = Date.now() + RETRY_TICK_MS;
    // What our own worker wrote to state.json is no trigger; a verb's write after this is.
    this.stateMtimeMs = await this.stateMtime();
    // A new device's state folder appears with its first worker: watch it from then on.
    if (this.watchMissing) this.watchState();
    if (job.kind === 'release' || job.kind === 'rollout' || job.kind === 'command') this.enqueue({ kind: 'tick', poll: false });
    this.pump();
    this.reschedule();
  }

  private reschedule(): void {
    if (this.stopping) return;
    if (this.wakeTimer !== null) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    if (this.running !== null) return;
    const d = nextTick(this.sched, Date.now());
    if (d.tick) this.enqueue({ kind: 'tick', poll: d.poll });
    else if (d.inMs !== null) this.wakeTimer = setTimeout(() => this.reschedule(), Math.min(d.inMs, 2 ** 31 - 1));
  }

  private every(ms: number, f: () => void): void {
    this.timers.add(setInterval(f, ms));
  }

  private stateFile(): string {
    return join(this.o.config.stateDir, 'state.json');
  }

  private async stateMtime(): Promise<number | null> {
    return stat(this.stateFile()).then((s) => s.mtimeMs, () => null);
  }

  /** A change of state.json by someone else (a verb's download): tick, so it is applied in the window. */
  private async checkState(): Promise<void> {
    if (this.running !== null || this.stopping) return;
    const m = await this.stateMtime();
    if (m === this.stateMtimeMs) return;
    this.stateMtimeMs = m;
    this.enqueue({ kind: 'tick', poll: false });
  }

  private watchState(): void {
    this.watchMissing = false;
    if (this.stopping) return;
    try {
      const w = watch(this.o.config.stateDir, { signal: this.watcher.signal }, (_event, filename) => {
        if (filename === 'state.json') void this.checkState();
      });
      w.on('error', (e) => this.watchFailed(e));
    } catch (e) {
      this.watchFailed(e);
    }
  }

  private watchFailed(e: unknown): void {
    // No state folder yet (a new device): the first worker makes it, and finished() watches again.
    this.watchMissing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    if ((e as Error).name !== 'AbortError' && !this.watchMissing) this.o.log(4, `cannot watch ${this.o.config.stateDir} (${(e as Error).message}); state.json is looked at once a minute`);
  }
}
