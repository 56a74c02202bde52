import { OtaError } from '../errors.js';

/**
 * Why a connection to an MQTT broker failed, in the words a user acts on: which broker, what it
 * answered (or that nothing answered), and what to change. Pure, so every case is unit-tested
 * without a broker.
 *
 * @example
 * throw connectError(e, { url: 'mqtts://broker:8883', timeoutSeconds: 10 });
 */
export interface ConnectContext {
  /** The broker URL without credentials. */
  url: string;
  timeoutSeconds: number;
}

/** CONNACK codes: 3.1.1 return codes (1-5) and MQTT 5 reason codes (128 and up). */
const REFUSALS: Record<number, { why: string; hint: string; auth?: boolean }> = {
  1: { why: 'it does not speak this MQTT version', hint: 'the broker is too old for MQTT 3.1.1; use a current Mosquitto, EMQX or `ota serve`' },
  2: { why: 'it rejected the client id', hint: 'the broker restricts client ids; ask its operator which ones are allowed' },
  3: { why: 'the server is unavailable', hint: 'try again later, or check the broker\'s log' },
  4: { why: 'not authorized: bad username or password', hint: 'check --username and --password (or OTA_MQTT_PASSWORD)' },
  5: { why: 'not authorized', hint: 'check --username and --password (or OTA_MQTT_PASSWORD), or the client certificate, against the broker\'s users and ACL' },
  128: { why: 'unspecified error', hint: 'check the broker\'s log' },
  132: { why: 'it does not speak this MQTT version', hint: 'use a current broker' },
  133: { why: 'it rejected the client id', hint: 'the broker restricts client ids; ask its operator which ones are allowed' },
  134: { why: 'not authorized: bad username or password', hint: 'check --username and --password (or OTA_MQTT_PASSWORD)' },
  135: { why: 'not authorized', hint: 'check --username and --password (or OTA_MQTT_PASSWORD), or the client certificate, against the broker\'s users and ACL' },
  136: { why: 'the server is unavailable', hint: 'try again later, or check the broker\'s log' },
  137: { why: 'the server is busy', hint: 'try again later' },
  138: { why: 'this client is banned', hint: 'ask the broker\'s operator' },
  140: { why: 'bad authentication method', hint: 'check the credentials the broker expects' },
};

const NETWORK: Record<string, { why: string; hint: string }> = {
  ECONNREFUSED: { why: 'connection refused', hint: 'is the broker running? check the host and port (1883 for mqtt://, 8883 for mqtts://)' },
  ENOTFOUND: { why: 'the host name does not resolve', hint: 'check the host in --broker' },
  EAI_AGAIN: { why: 'the host name does not resolve (DNS unavailable)', hint: 'check the network and the host in --broker' },
  EHOSTUNREACH: { why: 'no route to the host', hint: 'check the network and the host in --broker' },
  ENETUNREACH: { why: 'the network is unreachable', hint: 'check the network' },
  ECONNRESET: { why: 'the broker closed the connection', hint: 'a TLS broker reached with mqtt://, or one that wants a client certificate (--client-cert, --client-key)?' },
};

/** Node's TLS verification failures: the server's certificate, not ours. */
const TLS_VERIFY = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|HOSTNAME/;

export function connectError(e: unknown, ctx: ConnectContext): OtaError {
  const where = `cannot connect to the MQTT broker ${ctx.url}`;
  const err = e as { code?: unknown; message?: string };
  const message = err?.message ?? String(e);
  if (e === 'timeout') {
    return new OtaError('ERR_OTA_MQTT', `${where}: no answer within ${ctx.timeoutSeconds} s`, { hint: 'check the host and port, and that a firewall lets MQTT through (--connect-timeout waits longer)' });
  }
  if (typeof err?.code === 'number' && REFUSALS[err.code]) {
    const r = REFUSALS[err.code]!;
    return new OtaError('ERR_OTA_MQTT', `${where}: the broker refused: ${r.why}`, { hint: r.hint, cause: e });
  }
  if (typeof err?.code === 'string') {
    const n = NETWORK[err.code];
    if (n) return new OtaError('ERR_OTA_MQTT', `${where}: ${n.why}`, { hint: n.hint, cause: e });
    if (/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE|UNKNOWN_CA/.test(err.code)) {
      return new OtaError('ERR_OTA_MQTT', `${where}: the broker refused our TLS client certificate (${message})`, { hint: 'give --client-cert and --client-key signed by a CA the broker trusts', cause: e });
    }
    if (TLS_VERIFY.test(err.code)) {
      return new OtaError('ERR_OTA_MQTT', `${where}: its TLS certificate does not verify (${message})`, { hint: 'give the CA that signed it with --ca, and use the host name the certificate names', cause: e });
    }
    if (err.code.startsWith('ERR_SSL') || err.code.startsWith('ERR_TLS')) {
      return new OtaError('ERR_OTA_MQTT', `${where}: TLS failed (${message})`, { hint: 'mqtts:// needs a broker that speaks TLS on that port', cause: e });
    }
  }
  if (err?.code === undefined && MQTT_PARSE.test(message)) {
    return new OtaError('ERR_OTA_MQTT', `${where}: it does not speak MQTT (${message})`, { hint: 'check the port in --broker: another service (HTTP, say) answers there', cause: e });
  }
  return new OtaError('ERR_OTA_MQTT', `${where}: ${message}`, { hint: 'check --broker and the broker\'s log', cause: e });
}

/** The packet parser's (mqtt-packet) errors: before CONNACK, they mean the peer is no MQTT broker. */
const MQTT_PARSE = /^(Invalid |Malformed |Cannot parse |Packet |Not supported|Unknown property|Will |Connect flag)/;

/** A refusal that means "this protocol version, not you": worth one more try over 3.1.1. */
export function refusedProtocolVersion(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 1 || code === 132;
}
