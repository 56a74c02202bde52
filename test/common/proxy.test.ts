import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otaRejection } from '../helpers/errors.js';
import { startProxy, unreachableProxyUrl, type CountingProxy } from '../helpers/proxy-server.js';
import { downloadFile, fetchBytes } from '../../common/http.js';
import { envProxyPolicy, noProxyMatches, proxyFor, type ProxyPolicy } from '../../common/proxy.js';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('proxyFor (the choice, as data)', () => {
  const deb = 'http://deb.debian.org/debian/dists/bookworm/InRelease';
  const sec = 'https://security.debian.org/debian-security/dists/bookworm-security/InRelease';

  it('takes http_proxy for http: and https_proxy for https:, lower case before upper case', () => {
    const p = envProxyPolicy({ http_proxy: 'http://lower:3128', HTTP_PROXY: 'http://upper:3128', HTTPS_PROXY: 'upper-tls:8080' });
    expect(proxyFor(deb, p)).toBe('http://lower:3128');
    expect(proxyFor(sec, p)).toBe('http://upper-tls:8080');
    expect(proxyFor(deb, envProxyPolicy({ HTTP_PROXY: 'http://upper:3128' }))).toBe('http://upper:3128');
    expect(proxyFor(deb, envProxyPolicy({}))).toBeUndefined();
    expect(proxyFor('file:///srv/mirror/x.deb', p)).toBeUndefined();
  });

  it('goes direct for hosts that no_proxy names, as curl matches them', () => {
    const p = envProxyPolicy({ http_proxy: 'http://p:1', no_proxy: 'localhost, .debian.org,10.0.0.0/8,mirror:8080' });
    expect(proxyFor(deb, p)).toBeUndefined();
    expect(proxyFor('http://debian.org/x', p)).toBeUndefined();
    expect(proxyFor('http://notdebian.org/x', p)).toBe('http://p:1');
    expect(proxyFor('http://10.1.2.3/x', p)).toBeUndefined();
    expect(proxyFor('http://11.1.2.3/x', p)).toBe('http://p:1');
    expect(proxyFor('http://mirror:8080/x', p)).toBeUndefined();
    expect(proxyFor('http://mirror/x', p)).toBe('http://p:1');
    expect(proxyFor(deb, envProxyPolicy({ http_proxy: 'http://p:1', NO_PROXY: '*' }))).toBeUndefined();
    expect(noProxyMatches('[::1]', '::1', '')).toBe(true);
  });

  it("uses apt's Acquire settings before the environment for archives from apt's sources, DIRECT meaning none", () => {
    const apt: ProxyPolicy['apt'] = {
      scope: ['http://deb.debian.org/debian', 'https://security.debian.org/debian-security'],
      settings: { http: 'http://apt-cacher:3142', perHost: { 'http ftp.example.org': 'DIRECT' } },
    };
    const p: ProxyPolicy = { ...envProxyPolicy({ http_proxy: 'http://env:1', https_proxy: 'http://env-tls:2' }), apt };
    expect(proxyFor(deb, p)).toBe('http://apt-cacher:3142');
    // https falls back to Acquire::http::Proxy, as apt's https method does.
    expect(proxyFor(sec, p)).toBe('http://apt-cacher:3142');
    // An archive the manifest names itself is not apt's business.
    expect(proxyFor('http://vendor.example.com/apt/InRelease', p)).toBe('http://env:1');
    const direct: ProxyPolicy = { ...p, apt: { scope: ['http://ftp.example.org/debian'], settings: { http: 'http://apt-cacher:3142', perHost: { 'http ftp.example.org': 'DIRECT' } } } };
    expect(proxyFor('http://ftp.example.org/debian/pool/a.deb', direct)).toBeUndefined();
    expect(proxyFor(deb, { ...p, noProxy: ['deb.debian.org'] })).toBeUndefined();
  });
});

describe('requests through a real proxy on 127.0.0.1', () => {
  let archive: Server;
  let base = '';
  let hits = 0;
  let proxy: CountingProxy;
  const body = Buffer.from('a deb through the proxy\n'.repeat(100));
  beforeAll(async () => {
    archive = createServer((_req, res) => {
      hits++;
      res.end(body);
    });
    await new Promise<void>((r) => archive.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(archive.address() as { port: number }).port}`;
    proxy = await startProxy();
  });
  afterAll(async () => {
    await proxy.close();
    await new Promise<void>((r) => archive.close(() => r()));
  });

  it('sends fetches and downloads through http_proxy from the environment', async () => {
    const saved = process.env.http_proxy;
    process.env.http_proxy = proxy.url;
    try {
      expect(await fetchBytes(`${base}/dists/stable/InRelease`)).toEqual(body);
      const dir = await mkdtemp(join(tmpdir(), 'ota-proxy-'));
      const sha = createHash('sha256').update(body).digest('hex');
      await downloadFile(`${base}/pool/a.deb`, join(dir, 'a.deb'), { expectedSize: body.length, expectedSha256: sha });
      expect(await readFile(join(dir, 'a.deb'))).toEqual(body);
    } finally {
      if (saved === undefined) delete process.env.http_proxy;
      else process.env.http_proxy = saved;
    }
    expect(proxy.requests).toEqual([`${base}/dists/stable/InRelease`, `${base}/pool/a.deb`]);
  });

  it('fails, naming the proxy, when the proxy cannot be reached, and never goes direct', async () => {
    const before = hits;
    const dead = await unreachableProxyUrl();
    const err = await otaRejection(fetchBytes(`${base}/dists/stable/InRelease`, { retries: 1, backoffMs: 1, proxy: envProxyPolicy({ HTTP_PROXY: dead }) }));
    expect(err.code).toBe('ERR_OTA_FETCH');
    expect(err.message).toContain(`through proxy ${dead}`);
    expect(hits).toBe(before);
  });

  it('refuses a proxy setting or a URL that does not parse as bad input, asking nobody', async () => {
    const before = hits;
    const bad = await otaRejection(fetchBytes(`${base}/x`, { retries: 0, proxy: envProxyPolicy({ http_proxy: 'http://[oops' }) }));
    expect([bad.code, bad.exitCode]).toEqual(['ERR_OTA_USAGE', 2]);
    expect(bad.message).toContain('is not a valid proxy URL');
    const url = await otaRejection(fetchBytes('http://exa mple.org/x', { retries: 0 }));
    expect([url.code, url.message]).toEqual(['ERR_OTA_USAGE', 'http://exa mple.org/x is not a valid URL']);
    expect(hits).toBe(before);
  });

  it("keeps the proxy's password out of messages and says to check the proxy", async () => {
    const dead = new URL(await unreachableProxyUrl());
    const err = await otaRejection(fetchBytes(`${base}/x`, { retries: 0, proxy: envProxyPolicy({ http_proxy: `http://ci:s3cret@${dead.host}` }) }));
    expect(err.message).toContain(`through proxy http://ci:***@${dead.host}`);
    expect(`${err.message} ${err.hint}`).not.toContain('s3cret');
    expect(err.hint).toMatch(/check that the proxy http:\/\/ci:\*\*\*@.* is up/);
  });
});
