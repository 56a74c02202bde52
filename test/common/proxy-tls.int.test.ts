import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../common/exec.js';
import { fetchBytes } from '../../common/http.js';
import { envProxyPolicy } from '../../common/proxy.js';
import { otaRejection } from '../helpers/errors.js';
import { startProxy, type CountingProxy } from '../helpers/proxy-server.js';

// https through a proxy is a CONNECT tunnel, with TLS checked end to end: a real https server on
// 127.0.0.1 with a self-signed certificate (made by openssl), which the check refuses, once.

let dir: string;
let server: Server;
let proxy: CountingProxy;
let port = 0;
let connections = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-proxy-tls-'));
  const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  await run('make a self-signed certificate', ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1']);
  server = createServer({ key: await readFile(key), cert: await readFile(cert) }, (_req, res) => res.end('secret'));
  server.on('secureConnection', () => connections++);
  server.on('tlsClientError', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
  proxy = await startProxy();
});

afterAll(async () => {
  await proxy?.close();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('https through https_proxy (real proxy and TLS server on 127.0.0.1)', () => {
  it('opens a CONNECT tunnel, checks the certificate through it, and does not retry a refused one', async () => {
    const err = await otaRejection(fetchBytes(`https://127.0.0.1:${port}/dists/stable/InRelease`, { backoffMs: 1, proxy: envProxyPolicy({ https_proxy: proxy.url }) }));
    expect(err.code).toBe('ERR_OTA_FETCH');
    expect(err.message).toMatch(new RegExp(`through proxy ${proxy.url} failed: .*(self-signed|SELF_SIGNED)`));
    expect(proxy.tunnels).toEqual([`127.0.0.1:${port}`]);
    expect(proxy.requests).toEqual([]);
  });
});
