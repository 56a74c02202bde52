/**
 * Library code reports what it does as events; only the CLI's reporter renders them (a bar on a
 * TTY, plain lines elsewhere). Style.md 14.
 *
 * @example
 * onEvent({ phase: 'fetch', message: 'InRelease bookworm', bytes: 151_075 });
 */
export interface OtaEvent {
  phase: string;
  message: string;
  level?: 'info' | 'warning';
  current?: number;
  total?: number;
  bytes?: number;
}

export type EventSink = (e: OtaEvent) => void;

export const silent: EventSink = () => {};
