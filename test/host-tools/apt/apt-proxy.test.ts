import { describe, expect, it } from 'vitest';
import { parseAptProxy, proxyPolicy } from '../../../host-tools/apt/apt-proxy.js';

describe("apt's proxy settings", () => {
  it('reads Acquire::http(s)::Proxy and their per-host forms from `apt-config dump`, in any case', () => {
    const dump = [
      'Acquire::Retries "3";',
      'Acquire::http::Proxy "http://cache:3142/";',
      'Acquire::http::Proxy::deb.debian.org "direct";',
      'Acquire::HTTPS::Proxy "http://tls:3128";',
      'Acquire::http::Proxy-Auto-Detect "/usr/bin/auto";',
      'Acquire::https::Proxy::Vendor.Example.com "http://vendor:8080";',
    ].join('\n');
    expect(parseAptProxy(dump)).toEqual({
      http: 'http://cache:3142/',
      https: 'http://tls:3128',
      perHost: { 'http deb.debian.org': 'DIRECT', 'https vendor.example.com': 'http://vendor:8080' },
    });
  });

  it('reads apt only when some archive came from its sources', async () => {
    expect(await proxyPolicy({ env: { https_proxy: 'http://p:1' }, aptScope: [], etcApt: '/nonexistent' })).toEqual({ http: undefined, https: 'http://p:1', noProxy: [] });
  });
});
