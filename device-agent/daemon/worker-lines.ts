import type { DeviceEvent } from '../../contract/documents/event.js';
import type { Inventory } from '../../contract/documents/inventory.js';
import type { Status } from '../../contract/documents/status.js';

/**
 * One line of a worker's stdout (docs/agent.md, "The daemon and its workers"), told apart by its
 * `type` without a schema library: the relay forwards the documents as the worker wrote them
 * (the worker built them with the contract's schemas) and reads only the few fields it acts on.
 *
 * @example
 * const l = parseWorkerLine('{"type":"done","nextWakeMs":60000,"polled":true}');
 * if ('problem' in l) log(3, l.problem);
 */
export type WorkerLine =
  | { type: 'status'; doc: Status }
  | { type: 'event'; doc: DeviceEvent; untrusted: boolean }
  | { type: 'inventory'; doc: Inventory }
  | { type: 'done'; nextWakeMs: number | null; polled: boolean };

export function parseWorkerLine(line: string): WorkerLine | { problem: string } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { problem: `not JSON: ${line.slice(0, 120)}` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { problem: 'not a JSON object' };
  const o = v as Record<string, unknown>;
  const doc = o.doc;
  const isDoc = (kind: string) => doc !== null && typeof doc === 'object' && (doc as { kind?: unknown }).kind === kind;
  switch (o.type) {
    case 'status':
      if (!isDoc('Status') || typeof (doc as Status).phase !== 'string') return { problem: 'a status line without a Status document' };
      return { type: 'status', doc: doc as Status };
    case 'event':
      if (!isDoc('Event')) return { problem: 'an event line without an Event document' };
      return { type: 'event', doc: doc as DeviceEvent, untrusted: o.untrusted === true };
    case 'inventory':
      if (!isDoc('Inventory')) return { problem: 'an inventory line without an Inventory document' };
      return { type: 'inventory', doc: doc as Inventory };
    case 'done': {
      const wake = o.nextWakeMs;
      if (wake !== null && (typeof wake !== 'number' || !Number.isFinite(wake) || wake < 0)) return { problem: `done with a bad nextWakeMs ${JSON.stringify(wake)}` };
      return { type: 'done', nextWakeMs: wake, polled: o.polled === true };
    }
    default:
      return { problem: `an unknown line type ${JSON.stringify(o.type)}` };
  }
}
