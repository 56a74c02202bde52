/**
 * A plain static file server on 127.0.0.1 for bench/delta, counting the bytes of every response
 * body: what a device really downloads from a published directory, whatever libostree decides
 * to fetch (delta parts, fallback objects, or single objects it fetches on its own).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';

export interface Served {
  url: string;
  /** Requests answered with a body since the last reset: path and body bytes. */
  log(): { path: string; bytes: number }[];
  reset(): void;
  close(): Promise<void>;
}

export async function serveDirectory(root: string): Promise<Served> {
  let log: { path: string; bytes: number }[] = [];
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0]!));
    const file = join(root, path);
    stat(file).then(
      (s) => {
        if (!s.isFile() || path.includes('..')) return void res.writeHead(404).end();
        log.push({ path, bytes: s.size });
        res.writeHead(200, { 'content-length': s.size });
        createReadStream(file).pipe(res);
      },
      () => void res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    log: () => [...log],
    reset: () => void (log = []),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
