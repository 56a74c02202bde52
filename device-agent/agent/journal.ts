/**
 * The agent's events as lines (docs/agent.md, "Local CLI"): for the journal, with the sd-daemon priority
 * prefix systemd reads from a service's stderr (`<6>` info, `<4>` warning, `<3>` error), and plain for a verb
 * run by a person. Fetch events come many times a second during a download; the throttle keeps one a second.
 *
 * @example
 * journalLine({ level: 'warning', text: 'u1: verifying → rollingBack on unhealthy' }); // '<4>u1: verifying → ...'
 */
import { progressOf } from '../../common/events.js';
import type { AgentOutEvent } from './open.js';

export type Level = 'info' | 'warning' | 'error';

export interface EventText {
  level: Level;
  text: string;
}

const PRIORITY: Readonly<Record<Level, number>> = { info: 6, warning: 4, error: 3 };

/** An event as a line's level and text: the engine's with its update id, a fetch's with its counts. */
export function eventText(e: AgentOutEvent): EventText {
  const level = e.level ?? 'info';
  if (e.phase === 'agent') return { level, text: e.updateId === null ? e.message : `${e.updateId}: ${e.message}` };
  const { current, total } = progressOf(e);
  const counts = e.phase === 'fetch' && current !== undefined && total !== undefined ? ` (${current}/${total})` : '';
  return { level, text: `${e.phase}: ${e.message}${counts}` };
}

/** One journal line: the priority prefix, then the text on a single line. */
export function journalLine(t: EventText): string {
  return `<${PRIORITY[t.level]}>${t.text.replace(/\s*\n\s*/g, ' ')}`;
}

/**
 * A filter that lets a fetch event through when a second has passed since the last one it let through, or
 * when it is the last of its part (current equals total); every other event always passes.
 */
export function fetchThrottle(intervalMs = 1000): (e: AgentOutEvent, nowMs: number) => boolean {
  let last: number | null = null;
  return (e, nowMs) => {
    if (e.phase !== 'fetch') return true;
    const { current, total } = progressOf(e);
    const final = current !== undefined && current === total;
    if (!final && last !== null && nowMs - last < intervalMs) return false;
    last = nowMs;
    return true;
  };
}
