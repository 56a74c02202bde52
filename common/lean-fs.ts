import * as fs from 'node:fs';

/**
 * The promise-returning file calls the long-lived relay and the modules it shares with the host
 * tools make, over fs's callback API (docs/agent.md, "Footprint of the relay"): importing Node's
 * fs/promises loads its file handles, readline, directory and watch machinery, 11 modules and
 * 0.5 MB of a process that runs for months, for four calls.
 *
 * @example
 * const text = await readFile('/proc/uptime', 'utf8');
 */
export function readFile(path: string | URL): Promise<Buffer>;
export function readFile(path: string | URL, encoding: 'utf8'): Promise<string>;
export function readFile(path: string | URL, encoding?: 'utf8'): Promise<Buffer | string> {
  return new Promise((resolve, reject) => {
    const done = (e: NodeJS.ErrnoException | null, data: Buffer | string) => (e === null ? resolve(data) : reject(e));
    if (encoding === undefined) fs.readFile(path, done);
    else fs.readFile(path, encoding, done);
  });
}

export function readdir(path: string): Promise<string[]> {
  return new Promise((resolve, reject) => fs.readdir(path, (e, names) => (e === null ? resolve(names) : reject(e))));
}

export function stat(path: string): Promise<fs.Stats> {
  return new Promise((resolve, reject) => fs.stat(path, (e, s) => (e === null ? resolve(s) : reject(e))));
}

export function statfs(path: string): Promise<fs.StatsFs> {
  return new Promise((resolve, reject) => fs.statfs(path, (e, s) => (e === null ? resolve(s) : reject(e))));
}
