import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otaRejection } from '../helpers/errors.js';
import { fetchBytes } from '../../common/http.js';

/** Ports that Node's fetch refuses outright (the fetch standard's "bad ports"), where an archive may still live. */
const BLOCKED_PORTS = [6000, 6665, 6666, 6667, 6668, 6669, 4190, 6697];

async function listenOnFirstFree(server: Server, ports: number[]): Promise<number | undefined> {
  for (const port of ports) {
    const ok = await new Promise<boolean>((resolve) => {
      const onError = () => resolve(false);
      server.once('error', onError);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', onError);
        resolve(true);
      });
    });
    if (ok) return port;
  }
  return undefined;
}

describe('fetchBytes on a port that Node fetch blocks (real HTTP on 127.0.0.1)', () => {
  const server = createServer((_req, res) => res.end('on a blocked port'));
  let port: number | undefined;
  beforeAll(async () => {
    port = await listenOnFirstFree(server, BLOCKED_PORTS);
  });
  afterAll(() => new Promise<void>((r) => (server.listening ? server.close(() => r()) : r())));

  it('fetches from it like from any other port', async (ctx) => {
    if (port === undefined) ctx.skip(`none of the ports ${BLOCKED_PORTS.join(', ')} could be bound on 127.0.0.1`);
    expect((await fetchBytes(`http://127.0.0.1:${port}/InRelease`, { retries: 0 })).toString()).toBe('on a blocked port');
  });
});

describe('errors a retry cannot fix are not retried (real servers on 127.0.0.1)', () => {
  let http: Server;
  let garbage: TcpServer;
  const hits = new Map<string, number>();
  let connections = 0;
  let base = '';
  let garbageUrl = '';
  beforeAll(async () => {
    http = createServer((req, res) => {
      hits.set(req.url!, (hits.get(req.url!) ?? 0) + 1);
      res.writeHead(req.url === '/forbidden' ? 403 : 400).end();
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    // Something that is not an HTTP server at all (an SSH daemon on the archive's port, say).
    garbage = createTcpServer((sock) => {
      connections++;
      sock.end('SSH-2.0-OpenSSH_9.2\r\nnot http at all\r\n\r\n', () => sock.destroy());
    });
    await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', r));
    garbageUrl = `http://127.0.0.1:${(garbage.address() as { port: number }).port}/InRelease`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => http.close(() => r()));
    await new Promise<void>((r) => garbage.close(() => r()));
  });

  it('asks once on a 4xx other than 404/408/429 and names the status', async () => {
    const e403 = await otaRejection(fetchBytes(`${base}/forbidden`, { backoffMs: 1 }));
    expect(e403.message).toMatch(/\/forbidden failed: HTTP 403 Forbidden/);
    const e400 = await otaRejection(fetchBytes(`${base}/bad`, { backoffMs: 1 }));
    expect(e400.message).toMatch(/HTTP 400 Bad Request/);
    expect([hits.get('/forbidden'), hits.get('/bad')]).toEqual([1, 1]);
  });

  it('asks once when the server does not speak HTTP, and says so', async () => {
    const err = await otaRejection(fetchBytes(garbageUrl, { backoffMs: 1 }));
    expect(err.code).toBe('ERR_OTA_FETCH');
    expect(err.message).toContain(`fetching ${garbageUrl} failed`);
    expect(err.hint).toMatch(/retry will not help/);
    expect(connections).toBe(1);
  });
});
