/**
 * Which proxy a request goes through, decided as data before anything is sent. The rules are
 * apt's and curl's: `http_proxy` for http: URLs, `https_proxy` for https: URLs (the lower-case
 * name wins over the upper-case one, as in curl), and `no_proxy` names hosts that are reached
 * directly. For an archive that came from the build machine's own apt sources (`uri: host`),
 * apt's configuration comes first, as apt itself would fetch it: `Acquire::<scheme>::Proxy::<host>`
 * (where `DIRECT` means no proxy), then `Acquire::<scheme>::Proxy`, an https setting falling back
 * to the http one; `no_proxy` still applies.
 *
 * @example
 * const policy = envProxyPolicy(process.env);
 * proxyFor('http://deb.debian.org/debian/dists/bookworm/InRelease', policy); // 'http://proxy:3128' or undefined
 */
export interface AptProxySettings {
  /** `Acquire::http::Proxy` and `Acquire::https::Proxy`, as apt's configuration sets them. */
  http?: string;
  https?: string;
  /** `Acquire::<scheme>::Proxy::<host>`, keyed `<scheme> <host>`; the value may be `DIRECT`. */
  perHost: Record<string, string>;
}

export interface ProxyPolicy {
  http?: string;
  https?: string;
  noProxy: string[];
  /** apt's own settings, and the URL prefixes (archives from apt's sources) they apply to. */
  apt?: { settings: AptProxySettings; scope: string[] };
}

/** The environment's proxy variables, lower case first (curl's order). */
export function envProxyPolicy(env: NodeJS.ProcessEnv): ProxyPolicy {
  const get = (name: string): string | undefined => nonEmpty(env[name]) ?? nonEmpty(env[name.toUpperCase()]);
  const noProxy = (get('no_proxy') ?? '')
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return { http: get('http_proxy'), https: get('https_proxy'), noProxy };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** The proxy URL for `url`, or undefined to connect directly. `file:` URLs never use one. */
export function proxyFor(url: string, policy: ProxyPolicy): string | undefined {
  const u = new URL(url);
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme !== 'http' && scheme !== 'https') return undefined;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (policy.noProxy.some((entry) => noProxyMatches(entry, host, u.port))) return undefined;
  if (policy.apt && policy.apt.scope.some((prefix) => underPrefix(url, prefix))) {
    const chosen = aptChoice(policy.apt.settings, scheme, host);
    if (chosen !== undefined) return chosen === 'DIRECT' ? undefined : withScheme(chosen);
  }
  const fromEnv = scheme === 'https' ? policy.https : policy.http;
  return fromEnv === undefined ? undefined : withScheme(fromEnv);
}

/** apt's order: the host's own setting, then the scheme's, https falling back to http's. */
function aptChoice(s: AptProxySettings, scheme: string, host: string): string | undefined {
  const schemes = scheme === 'https' ? ['https', 'http'] : ['http'];
  for (const sc of schemes) {
    const own = s.perHost[`${sc} ${host}`];
    if (own !== undefined) return own;
  }
  for (const sc of schemes) {
    const general = sc === 'https' ? s.https : s.http;
    if (general !== undefined) return general;
  }
  return undefined;
}

/** `proxy:3128` as apt and curl accept it means `http://proxy:3128`. */
function withScheme(proxy: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `http://${proxy}`;
}

function underPrefix(url: string, prefix: string): boolean {
  const p = prefix.replace(/\/+$/, '');
  return url === p || url.startsWith(`${p}/`);
}

/**
 * curl's `no_proxy` matching: `*` matches every host; a name matches itself and its subdomains
 * (a leading dot is ignored); an IP address or a CIDR block matches addresses; `host:port`
 * matches only that port.
 */
export function noProxyMatches(entry: string, host: string, port: string): boolean {
  if (entry === '*') return true;
  let name = entry.toLowerCase();
  const portMatch = /^(.*[^:]):(\d+)$/.exec(name);
  if (portMatch && !name.includes(']') && name.split(':').length === 2) {
    if (portMatch[2] !== port) return false;
    name = portMatch[1]!;
  }
  name = name.replace(/^\[|\]$/g, '').replace(/^\.+/, '');
  const h = host.toLowerCase();
  if (name.includes('/')) return inCidr(h, name);
  return h === name || h.endsWith(`.${name}`);
}

function inCidr(host: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const a = ipv4(host);
  const b = ipv4(base!);
  const bits = Number(bitsText);
  if (a === undefined || b === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

function ipv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) return undefined;
  return parts.reduce((n, p) => (n << 8) + Number(p), 0) >>> 0;
}
