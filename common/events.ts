import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Library code reports what it does as events; only the CLI's reporter renders them (a bar on a
 * TTY, plain lines elsewhere), and the device agent's journal and a dashboard read the same
 * stream (docs/conventions.md). An event is one of a closed set of phases; each variant names
 * what it belongs to (the image being built, the manifest being locked, the device being
 * flashed) so that a reader can group events without parsing the message, which is for people.
 *
 * @example
 * onEvent({ phase: 'fetch', message: 'InRelease bookworm', bytes: 151_075 });
 * onEvent({ phase: 'configure', image: 'debian/bookworm/arm64', message: '12 preinst scripts' });
 */
interface Base {
  /** One line for a person; structured fields carry what a program needs. */
  message: string;
  level?: 'info' | 'warning';
}

/** Work that counts (files, bytes): `current` of `total`, `bytes` done so far or in one piece. */
export interface Progress {
  current?: number;
  total?: number;
  bytes?: number;
}

/** Locking a manifest: the lockfile is up to date, or replaced; resolving its packages. */
export interface LockEvent extends Base, Progress {
  phase: 'lock' | 'resolve';
  manifest: string;
}

/** Archive indices and debs: fetched, or imported into the repository (shared by every image of a build). */
export interface FetchEvent extends Base, Progress {
  phase: 'fetch' | 'import';
  /** What was fetched, when it was one file. */
  url?: string;
}

/** Building one image: its union (stage 1), its scripts (stage 2), its commit, or the build as a whole. */
export interface ImageEvent extends Base {
  phase: 'union' | 'configure' | 'commit' | 'build';
  /** The image's ref. */
  image: string;
}

/** Writing a disk image of a commit for a board. */
export interface DiskImageEvent extends Base {
  phase: 'image';
  /** The ref (or checksum) deployed into the disk image. */
  image: string;
  board: string;
  output: string;
}

/** Block maps, and writing or reading back a device. */
export interface DeviceEvent extends Base, Progress {
  phase: 'bmap' | 'flash' | 'verify';
  /** The image file (bmap) or the device (flash, verify). */
  target: string;
}

/**
 * Publishing a release (`ota publish`), bundling one (`ota bundle`) or checking a published
 * directory or bundle (`ota verify`): each step, named by the release `<ref> <version>` (for
 * `check`, the directory or file checked).
 */
export interface ReleaseEvent extends Base, Progress {
  phase: 'publish' | 'bundle' | 'check';
  release: string;
}

/** A subprocess about to run (reported with -v). */
export interface ExecEvent extends Base {
  phase: 'exec';
  /** argv[0]; the message says what the run is for, as the caller describes it. */
  program: string;
  /** The whole argv, program first. */
  argv: string[];
}

/** An HTTP request that got an answer, or none (reported with -v). */
export interface HttpEvent extends Base {
  phase: 'http';
  method: string;
  url: string;
  /** Absent when no response came (connection refused, timeout). */
  status?: number;
}

/** A fleet's broker credentials: certificates issued, passwords made (`ota fleet acl`). */
export interface AclEvent extends Base, Progress {
  phase: 'acl';
}

export type OtaEvent = LockEvent | FetchEvent | ImageEvent | DiskImageEvent | DeviceEvent | ReleaseEvent | ExecEvent | HttpEvent | AclEvent;

export type Phase = OtaEvent['phase'];

export type EventSink = (e: OtaEvent) => void;

export const silent: EventSink = () => {};

/** The counts an event carries, or none: for readers that show progress whatever the phase. */
export function progressOf(e: OtaEvent): Progress {
  return 'current' in e || 'total' in e || 'bytes' in e ? { current: e.current, total: e.total, bytes: e.bytes } : {};
}

/**
 * Subprocesses and HTTP requests are reported without a sink threaded through every call: the
 * doors to them (common/exec.ts, common/http.ts) send their events to the sink of the
 * surrounding `withTrace` call, if any. Scoped per call chain, so two CLI runs in one process
 * (tests) each see only their own.
 *
 * @example
 * await withTrace(reporter.event, () => program.parseAsync(argv));
 */
const traceSink = new AsyncLocalStorage<EventSink>();

export function withTrace<T>(sink: EventSink, fn: () => T): T {
  return traceSink.run(sink, fn);
}

/** Sends an exec or http event to the surrounding `withTrace` sink; nothing without one. */
export function trace(e: ExecEvent | HttpEvent): void {
  traceSink.getStore()?.(e);
}
