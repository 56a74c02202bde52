import { spawn } from 'node:child_process';
import { fullArgv, shortArgv } from './argv.js';
import { OtaError } from './errors.js';
import { trace } from './events.js';

/**
 * The one door to subprocesses (docs/conventions.md, "One door per kind"): a description for messages, an argv (never a shell
 * string), stdin closed unless given, output kept for the error.
 *
 * @example
 * const { stdout } = await run('verify InRelease', ['gpgv', '--keyring', k, file]);
 */
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Bytes written to the child's stdin; stdin is closed either way. */
  input?: string | Buffer;
  /** Exit codes that count as success (default: [0]). */
  okCodes?: number[];
  /** Return stdout as a Buffer (binary output). */
  binary?: boolean;
  /**
   * Ends the child with `killSignal` when aborted; the call then rejects with the signal's reason,
   * once the child and everything that holds its output open have exited.
   */
  signal?: AbortSignal;
  /** Default SIGTERM; SIGKILL for a child that ignores the others (unshare --fork waiting for its child). */
  killSignal?: NodeJS.Signals;
}

export interface RunResult<T = string> {
  code: number;
  stdout: T;
  stderr: string;
}

export function run(description: string, argv: string[], options: RunOptions & { binary: true }): Promise<RunResult<Buffer>>;
export function run(description: string, argv: string[], options?: RunOptions): Promise<RunResult<string>>;
export function run(
  description: string,
  argv: string[],
  options: RunOptions = {},
): Promise<RunResult<string | Buffer>> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error(`run(${description}): empty argv, this is a bug`);
  trace({ phase: 'exec', message: description, program: cmd, argv: [...argv] });
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const abort = () => child.kill(options.killSignal ?? 'SIGTERM');
    if (options.signal?.aborted) abort();
    else options.signal?.addEventListener('abort', abort, { once: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // a child that exits early closes its stdin; its exit code tells why
    child.stdin.end(options.input ?? '');
    child.on('error', (e: NodeJS.ErrnoException) => {
      const hint = e.code === 'ENOENT' ? `install it (sudo scripts/setup installs everything ota uses)` : undefined;
      reject(new OtaError('ERR_OTA_EXEC', `${description}: cannot run \`${cmd}\`: ${e.message}`, { hint, cause: e }));
    });
    child.on('close', (code, sig) => {
      options.signal?.removeEventListener('abort', abort);
      if (options.signal?.aborted) {
        reject(options.signal.reason);
        return;
      }
      const stdoutBuf = Buffer.concat(out);
      const stderr = Buffer.concat(err).toString('utf8');
      const exit = code ?? 128;
      if (!(options.okCodes ?? [0]).includes(exit)) {
        const tail = (stderr.trim() || stdoutBuf.toString('utf8').trim()).split('\n').slice(-20);
        // The first line names the program and its first arguments (an argument may be a whole
        // script); the full command follows the output in the details.
        const how = sig ? `was killed by ${sig}` : `exited with ${exit}`;
        reject(new OtaError('ERR_OTA_EXEC', `${description}: \`${shortArgv(argv)}\` ${how}`, { details: [...tail, `command: ${fullArgv(argv)}`] }));
        return;
      }
      resolve({ code: exit, stdout: options.binary ? stdoutBuf : stdoutBuf.toString('utf8'), stderr });
    });
  });
}

export interface Started {
  pid: number;
  /** Called with each chunk the child writes to stderr. */
  onStderr(listener: (text: string) => void): void;
  /** Called with each chunk the child writes to stdout (a server printing the port it bound, say). */
  onStdout(listener: (text: string) => void): void;
  kill(signal: NodeJS.Signals): void;
  /** Settles when the child, and whatever it left holding its output, has exited: its exit code or the signal that ended it, and all it wrote. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/**
 * A child that runs beside the caller (run waits for it): for driving a long command and
 * signalling it part way, as tests of interrupted builds do.
 *
 * @example
 * const c = start('ota build', [process.execPath, 'bin/ota.js', 'build', lockPath, '--repo', repo]);
 * c.kill('SIGINT');
 * const { code } = await c.exited;
 */
export function start(description: string, argv: string[], options: Pick<RunOptions, 'cwd' | 'env'> = {}): Started {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error(`start(${description}): empty argv, this is a bug`);
  trace({ phase: 'exec', message: description, program: cmd, argv: [...argv] });
  const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const exited = new Promise<Awaited<Started['exited']>>((resolve, reject) => {
    child.on('error', (e) => reject(new OtaError('ERR_OTA_EXEC', `${description}: cannot run \`${cmd}\`: ${e.message}`, { cause: e })));
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
  return {
    pid: child.pid ?? -1,
    onStderr: (listener) => child.stderr.on('data', (b: Buffer) => listener(b.toString('utf8'))),
    onStdout: (listener) => child.stdout.on('data', (b: Buffer) => listener(b.toString('utf8'))),
    kill: (signal) => child.kill(signal),
    exited,
  };
}

export interface BoundedOptions extends Pick<RunOptions, 'cwd' | 'env'> {
  /** After this long the child's whole process group gets SIGTERM, then SIGKILL `graceMs` later. */
  timeoutMs: number;
  graceMs: number;
  /** Aborting kills the whole group with SIGKILL at once (an overall deadline has no time for grace). */
  signal?: AbortSignal;
  /** Bytes of each stream kept (the tail); a chatty child cannot fill memory. Default 16 KiB. */
  keepBytes?: number;
}

export interface BoundedResult {
  /** Null when a signal ended the child, or when it never started (`spawnError`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
  /** Why the program could not start (not found, not executable); no exit code then. */
  spawnError?: string;
}

/**
 * Runs a child that may hang (a health check) in its own process group, and never waits on it
 * longer than asked: the timeout ends the whole group (a script's own children too), an abort
 * kills it at once, and once the child has exited whatever it left in its group is killed, so a
 * leftover holding the output pipe open cannot keep the call waiting. Never rejects: a failed
 * start is `spawnError`, a non-zero exit is `code`.
 *
 * @example
 * const r = await runBounded('check disk', ['/etc/ota/health/required.d/disk'], { timeoutMs: 60_000, graceMs: 5_000 });
 * if (r.timedOut || r.code !== 0) fail(r.stderr);
 */
export function runBounded(description: string, argv: string[], options: BoundedOptions): Promise<BoundedResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error(`runBounded(${description}): empty argv, this is a bug`);
  trace({ phase: 'exec', message: description, program: cmd, argv: [...argv] });
  return new Promise((resolve) => {
    // detached: the child leads a new process group, so one kill(-pid) reaches everything it forked
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = options.keepBytes ?? 16 * 1024;
    const out = tailBuffer(keep);
    const err = tailBuffer(keep);
    child.stdout.on('data', out.push);
    child.stderr.on('data', err.push);
    const state = { timedOut: false, aborted: false, done: false };
    const timers: NodeJS.Timeout[] = [];
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // ESRCH: the group is gone already
      }
    };
    const onAbort = () => ((state.aborted = true), killGroup('SIGKILL'));
    const finish = (r: Pick<BoundedResult, 'code' | 'signal' | 'spawnError'>) => {
      if (state.done) return;
      state.done = true;
      timers.forEach(clearTimeout);
      options.signal?.removeEventListener('abort', onAbort);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ ...r, stdout: out.text(), stderr: err.text(), timedOut: state.timedOut, aborted: state.aborted });
    };
    timers.push(
      setTimeout(() => {
        state.timedOut = true;
        killGroup('SIGTERM');
        timers.push(setTimeout(() => killGroup('SIGKILL'), options.graceMs));
      }, options.timeoutMs),
    );
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => finish({ code: null, signal: null, spawnError: e.message }));
    child.on('exit', (code, signal) => {
      killGroup('SIGKILL');
      // The pipes close once the group is gone; a process that left the group (setsid) may hold
      // them open, so the output read by then is what is reported.
      const settle = () => finish({ code, signal });
      child.on('close', settle);
      timers.push(setTimeout(settle, options.graceMs));
    });
  });
}

/** The last `limit` bytes written to a stream. */
function tailBuffer(limit: number): { push: (b: Buffer) => void; text: () => string } {
  let chunks: Buffer[] = [];
  let size = 0;
  return {
    push: (b: Buffer) => {
      chunks.push(b);
      size += b.length;
      if (size > 2 * limit) {
        const all = Buffer.concat(chunks).subarray(-limit);
        chunks = [all];
        size = all.length;
      }
    },
    text: () => Buffer.concat(chunks).subarray(-limit).toString('utf8'),
  };
}

export interface LinesOptions extends Pick<RunOptions, 'cwd' | 'env'> {
  /** Written to the child's stdin, which is then closed. */
  input: string;
  /** Called with each line the child prints on stdout, without its newline. */
  onLine: (line: string) => void;
  /** A line longer than this is dropped, and `onLongLine` says so once per such line. */
  maxLineBytes: number;
  onLongLine: () => void;
}

export interface LinesChild {
  pid: number;
  kill(signal: NodeJS.Signals): void;
  /** Settles when the child has exited and its stdout is read to the end; a failed start rejects. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * A child that speaks JSON lines (the device agent's workers): its input on stdin, then EOF; its
 * stdout read line by line as it comes; its stderr left to the caller's own (the journal).
 *
 * @example
 * const c = startLines('worker tick', argv, { input: '', onLine: handle, maxLineBytes: 8 << 20, onLongLine: complain });
 * const { code } = await c.exited;
 */
export function startLines(description: string, argv: string[], options: LinesOptions): LinesChild {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error(`startLines(${description}): empty argv, this is a bug`);
  trace({ phase: 'exec', message: description, program: cmd, argv: [...argv] });
  const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'inherit'] });
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let tooLong = false;
  child.stdout.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      if (!tooLong) options.onLine(Buffer.concat([...pending, chunk.subarray(start, nl)]).toString('utf8'));
      pending = [];
      pendingBytes = 0;
      tooLong = false;
      start = nl + 1;
    }
    if (tooLong || start === chunk.length) return;
    pending.push(chunk.subarray(start));
    pendingBytes += chunk.length - start;
    if (pendingBytes > options.maxLineBytes) {
      tooLong = true;
      pending = [];
      options.onLongLine();
    }
  });
  // The last line may come without its newline.
  child.stdout.on('end', () => {
    if (!tooLong && pendingBytes > 0) options.onLine(Buffer.concat(pending).toString('utf8'));
  });
  child.stdin.on('error', () => {}); // a child that exits early closes its stdin; its exit code tells why
  child.stdin.end(options.input);
  const exited = new Promise<Awaited<LinesChild['exited']>>((resolve, reject) => {
    child.on('error', (e) => reject(new OtaError('ERR_OTA_EXEC', `${description}: cannot run \`${cmd}\`: ${e.message}`, { cause: e })));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  return { pid: child.pid ?? -1, kill: (signal) => child.kill(signal), exited };
}
