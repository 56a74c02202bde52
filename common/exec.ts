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
