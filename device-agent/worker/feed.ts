/**
 * A worker's status and event lines (docs/agent.md, "The worker protocol"): the contract's status document at
 * the start of a job and after every save that changes the phase or the update, download progress at most once
 * a second, and one event per phase an update enters. Which event a save makes is a pure function of the record
 * (`eventForSave`); the feed only reads the device (the same reading as `ota-agent status --json`) and prints.
 *
 * @example
 * const feed = new StatusFeed({ config, lines, agentVersion, now: () => new Date() });
 * await feed.status(true);
 * const agent = await openAgent(config, { onSaved: (r) => feed.saved(r), emit: (e) => e.phase === 'fetch' && feed.fetched(e) });
 */
import type { OtaEvent } from '../../common/events.js';
import { API_VERSION, LIMITS, type DeviceEvent, type EventType, type Status } from '../../contract/index.js';
import { progressOfEvent, writeDue } from '../agent/progress.js';
import { readDeviceStatus } from '../cli/read-status.js';
import { updateStatus } from '../cli/record-status.js';
import type { AgentConfig } from '../config/schema.js';
import { resultOf, type AgentRecord } from '../engine/record.js';
import type { LineWriter } from './lines.js';

export interface FeedOptions {
  config: AgentConfig;
  lines: LineWriter;
  agentVersion: string;
  now: () => Date;
}

export interface EventNote {
  type: EventType;
  updateId: string | null;
  reason: string | null;
}

/** Phases that make no event: idle is no news, and a check that finds nothing new must not flood the fleet. */
const QUIET = new Set(['idle', 'checking']);

/**
 * The event a saved record makes when its phase changed: the phase entered, with the detail of the log entry
 * that led there; an update that ended refused is `refused` with its reason. Null for the quiet phases.
 */
export function eventForSave(record: AgentRecord, now: Date): EventNote | null {
  const u = record.update;
  const { phase } = updateStatus({ record }, now);
  if (QUIET.has(phase) || u === null) return null;
  if (record.state === 'reporting') {
    const r = resultOf(u, now);
    return { type: r.result === 'refused' ? 'refused' : phase, updateId: u.id, reason: r.reason };
  }
  return { type: phase, updateId: u.id, reason: u.log.at(-1)?.detail ?? null };
}

export class StatusFeed {
  private shown: { phase: string; updateId: string | null } | null = null;
  private last: Status | null = null;
  private lastProgressMs: number | null = null;

  constructor(private readonly o: FeedOptions) {}

  /** A status line read from the device now; without `force`, only when the phase or the update changed. */
  async status(force = false): Promise<Status> {
    const { status } = await readDeviceStatus(this.o.config, { agentVersion: this.o.agentVersion, now: this.o.now() });
    const key = { phase: status.phase, updateId: status.updateId };
    if (force || this.shown === null || this.shown.phase !== key.phase || this.shown.updateId !== key.updateId) {
      this.o.lines.write({ type: 'status', doc: status });
    }
    this.shown = key;
    this.last = status;
    return status;
  }

  /** After each save of the record (openAgent's onSaved): a status line and an event when the phase changed. */
  async saved(record: AgentRecord): Promise<void> {
    const now = this.o.now();
    const { phase, updateId } = updateStatus({ record }, now);
    if (this.shown !== null && this.shown.phase === phase && this.shown.updateId === updateId) return;
    await this.status();
    const note = eventForSave(record, now);
    if (note !== null) this.event(note);
  }

  /** A fetch event while downloading: the last status with its progress, at most once a second. */
  fetched(e: OtaEvent): void {
    const at = this.o.now();
    const s = this.last;
    if (s === null || s.phase !== 'downloading' || s.updateId === null) return;
    const p = progressOfEvent(s.updateId, e, at);
    if (p === null || !writeDue(this.lastProgressMs, at.getTime())) return;
    this.lastProgressMs = at.getTime();
    this.o.lines.write({ type: 'status', doc: { ...s, updatedAt: at.toISOString(), progress: { doneBytes: p.doneBytes, totalBytes: p.totalBytes } } });
  }

  /** One event line; `untrusted` marks a report of bad input. */
  event(note: EventNote, untrusted = false): void {
    this.o.lines.write({ type: 'event', doc: eventDocument(this.o.config.deviceId, note, this.o.now()), untrusted });
  }
}

/** The contract's event document, its reason clipped to the contract's text limit. */
export function eventDocument(device: string, note: EventNote, at: Date): DeviceEvent {
  const max = LIMITS.textChars;
  const reason = note.reason === null ? null : note.reason.length <= max ? note.reason : `${note.reason.slice(0, max - 1)}…`;
  return { apiVersion: API_VERSION, kind: 'Event', device, updateId: note.updateId, type: note.type, reason, time: at.toISOString() };
}
