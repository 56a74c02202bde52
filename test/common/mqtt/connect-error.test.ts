import { describe, expect, it } from 'vitest';
import { connectError, refusedProtocolVersion } from '../../../common/mqtt/connect-error.js';

const ctx = { url: 'mqtts://broker.example:8883', timeoutSeconds: 7 };
const withCode = (code: string | number, message = 'x') => Object.assign(new Error(message), { code });

describe('connectError', () => {
  it('names the broker and the refusal of MQTT 3.1.1 and 5 alike', () => {
    for (const code of [4, 134]) expect(connectError(withCode(code), ctx).message).toBe('cannot connect to the MQTT broker mqtts://broker.example:8883: the broker refused: not authorized: bad username or password');
    for (const code of [5, 135]) expect(connectError(withCode(code), ctx).message).toMatch(/refused: not authorized$/);
    expect(connectError(withCode(5), ctx).hint).toMatch(/--password/);
    expect(connectError(withCode(5), ctx).code).toBe('ERR_OTA_MQTT');
  });

  it('tells network failures, a silent peer and TLS problems apart, each with what to do', () => {
    expect(connectError(withCode('ECONNREFUSED'), ctx).message).toMatch(/: connection refused$/);
    expect(connectError(withCode('ENOTFOUND'), ctx).hint).toMatch(/--broker/);
    expect(connectError('timeout', ctx).message).toMatch(/no answer within 7 s/);
    expect(connectError(withCode('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), ctx).hint).toMatch(/--ca/);
    expect(connectError(withCode('ERR_TLS_CERT_ALTNAME_INVALID'), ctx).message).toMatch(/does not verify/);
    expect(connectError(withCode('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), ctx).hint).toMatch(/--client-cert/);
    expect(connectError(withCode('EWHATEVER', 'odd'), ctx).message).toMatch(/: odd$/);
  });

  it('says a peer whose answer is not MQTT does not speak it (an HTTP server, say)', () => {
    // What mqtt.js reports when an HTTP server answers CONNECT with "HTTP/1.1 400 ...".
    const e = connectError(new Error('Invalid header flag bits, must be 0x0 for puback packet'), ctx);
    expect(e.message).toBe('cannot connect to the MQTT broker mqtts://broker.example:8883: it does not speak MQTT (Invalid header flag bits, must be 0x0 for puback packet)');
    expect(e.hint).toMatch(/port/);
  });

  it('retries over 3.1.1 only for a refused protocol version', () => {
    expect(refusedProtocolVersion(withCode(1))).toBe(true);
    expect(refusedProtocolVersion(withCode(132))).toBe(true);
    expect(refusedProtocolVersion(withCode(5))).toBe(false);
    expect(refusedProtocolVersion(withCode('ECONNREFUSED'))).toBe(false);
  });
});
