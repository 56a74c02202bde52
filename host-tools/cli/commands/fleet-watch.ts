import type { DeviceRow, FleetView } from '../../fleet/device-view.js';
import { statusLines } from '../../fleet/table.js';

/**
 * How `ota fleet status --watch` shows changes (docs/fleet.md, "ota fleet status"): on a terminal
 * the whole table is redrawn in place, in one write per frame that overwrites the previous lines
 * rather than clearing the screen (so it does not flicker), at most every 200 ms; elsewhere (a
 * pipe, a log) one line per device whose row changed.
 *
 * @example
 * const screen = liveScreen(process.stdout);
 * screen.draw(() => view);
 * screen.close();
 */
export function deviceLine(d: DeviceRow): string {
  const progress = d.progress === null ? '-' : d.progress.totalBytes ? `${Math.floor((100 * d.progress.doneBytes) / d.progress.totalBytes)}%` : `${d.progress.doneBytes}B`;
  const error = d.lastError === null ? '-' : `${d.lastError.code}`;
  const problems = Object.entries(d.problems).map(([k, v]) => ` ${k}=${v}`).join('');
  return `${d.device} presence=${d.presence} booted=${d.booted ?? '-'} staged=${d.staged ?? '-'} phase=${d.phase ?? '-'} progress=${progress} health=${d.health} error=${error}${problems}`;
}

export interface LiveScreen {
  /** Asks for a frame; the view is made only when the frame is drawn, at most every 200 ms. */
  draw: (view: () => FleetView) => void;
  close: () => void;
}

interface TtyStream {
  write: (s: string) => boolean;
  columns?: number;
  rows?: number;
}

const FRAME_MS = 200;

export function liveScreen(stream: TtyStream): LiveScreen {
  let drawn = 0;
  let pending: (() => FleetView) | null = null;
  let timer: NodeJS.Timeout | undefined;
  let lastDraw = 0;
  const flush = () => {
    timer = undefined;
    if (pending === null) return;
    const view = pending;
    pending = null;
    lastDraw = Date.now();
    drawn = paint(stream, view(), drawn);
  };
  return {
    draw: (view) => {
      pending = view;
      if (timer !== undefined) return;
      timer = setTimeout(flush, Math.max(0, lastDraw + FRAME_MS - Date.now()));
    },
    close: () => {
      clearTimeout(timer);
      flush();
    },
  };
}

/** One frame: back to the first line of the previous one, each line rewritten and cleared to its end. */
function paint(stream: TtyStream, view: FleetView, previous: number): number {
  const width = Math.max(20, stream.columns ?? 120);
  const height = Math.max(5, (stream.rows ?? 50) - 1);
  const all = [`${new Date().toISOString()}  (Ctrl-C to stop)`, ...statusLines(view, new Date())];
  const lines = all.length > height ? [...all.slice(0, height - 1), `… ${all.length - height + 1} more lines`] : all;
  const up = previous > 0 ? `\u001b[${previous}F` : '';
  stream.write(`${up}${lines.map((l) => `${l.slice(0, width - 1)}\u001b[K`).join('\n')}\n\u001b[J`);
  return lines.length;
}

/**
 * An AbortSignal that Ctrl-C (SIGINT) or SIGTERM aborts, for the commands that run until stopped
 * (`--watch`, `--follow`): stopping them is their normal end, so they exit 0, not 130.
 */
export function untilInterrupted(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}
