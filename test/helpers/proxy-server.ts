/**
 * A real forward proxy on 127.0.0.1 that counts what goes through it: absolute-URI requests
 * (plain http:, as apt-cacher-ng and squid take them) are forwarded, CONNECT opens a tunnel
 * (https:). `unreachableProxyUrl()` is a loopback port where nothing listens.
 *
 * @example
 * const proxy = await startProxy();
 * await fetchBytes(url, { proxy: envProxyPolicy({ http_proxy: proxy.url }) });
 * expect(proxy.requests).toContain(url);
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';

export interface CountingProxy {
  url: string;
  /** Absolute URLs asked for (plain http), in order. */
  requests: string[];
  /** `host:port` of each CONNECT tunnel. */
  tunnels: string[];
  close(): Promise<void>;
}

export async function startProxy(): Promise<CountingProxy> {
  const requests: string[] = [];
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    requests.push(req.url!);
    const target = new URL(req.url!);
    const up = httpRequest(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (upRes) => {
      res.writeHead(upRes.statusCode!, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  server.on('connect', (req, client: Socket) => {
    tunnels.push(req.url!);
    const [host, port] = req.url!.split(':');
    const upstream = connect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(client);
      client.pipe(upstream);
    });
    // A tunnel lives as long as both ends: one closing ends the other (and the proxy's close ends both).
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests,
    tunnels,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A proxy URL on a loopback port that was free a moment ago: connections to it are refused. */
export async function unreachableProxyUrl(): Promise<string> {
  const probe = createTcpServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return `http://127.0.0.1:${port}`;
}
