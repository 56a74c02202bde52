/**
 * What a worker prints on stdout for the relay (docs/agent.md, "The worker protocol"): JSON lines, one object
 * each. The relay publishes status, events and inventory as they come and learns from `done` when to tick
 * again; it trusts none of it beyond publishing it under this device's topics.
 *
 * @example
 * const lines = lineWriter((l) => process.stdout.write(`${l}\n`));
 * lines.write({ type: 'done', nextWakeMs: 60_000, polled: true });
 */
import type { DeviceEvent, Inventory, Status } from '../../contract/index.js';

export type WorkerLine =
  | { type: 'status'; doc: Status }
  /** untrusted: the event reports bad input (the relay sends those through its bad-input rate limit). */
  | { type: 'event'; doc: DeviceEvent; untrusted: boolean }
  | { type: 'inventory'; doc: Inventory }
  /** The job ended; nextWakeMs: when the relay should tick again (null: only on a trigger); polled: the group's release was checked. */
  | { type: 'done'; nextWakeMs: number | null; polled: boolean };

/** The relay refuses longer lines as an error of the worker: a document never gets near it (contract limits). */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;

export interface LineWriter {
  write(line: WorkerLine): void;
}

/** Lines to `out` (one call per line, without its newline). A line over MAX_LINE_BYTES is a bug, never printed torn. */
export function lineWriter(out: (line: string) => void): LineWriter {
  return {
    write(line) {
      const text = JSON.stringify(line);
      if (Buffer.byteLength(text) > MAX_LINE_BYTES) throw new Error(`a worker line of type ${line.type} is over ${MAX_LINE_BYTES} bytes, this is a bug`);
      out(text);
    },
  };
}
