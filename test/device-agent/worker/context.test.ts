import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { MAX_JWS_CHARS } from '../../../contract/index.js';
import { readInput, signedRefusal } from '../../../device-agent/worker/context.js';
import { lineWriter, MAX_LINE_BYTES } from '../../../device-agent/worker/lines.js';

async function* chunks(...parts: (string | Buffer)[]): AsyncIterable<Buffer | string> {
  for (const p of parts) yield p;
}

describe("a worker's input and output", () => {
  it('reads stdin whole as strict UTF-8: bytes that are not UTF-8 are null, never replaced', async () => {
    expect(await readInput(chunks('abc.', Buffer.from('déf', 'utf8')))).toBe('abc.déf');
    expect(await readInput(chunks(Buffer.from([0x61, 0xff, 0x62])))).toBeNull();
    expect(await readInput(chunks())).toBe('');
  });

  it('stops reading one byte past the largest signed document, so readSigned refuses it as too large', async () => {
    const big = Buffer.alloc(MAX_JWS_CHARS.release + 100, 0x61);
    const got = await readInput(chunks(big.subarray(0, 10), big.subarray(10)));
    expect(got?.length).toBe(MAX_JWS_CHARS.release + 1);
  });

  it("names readSigned's refusals by their check, and nothing else", () => {
    expect(signedRefusal(new OtaError('ERR_OTA_JWS_EXPIRED', 'signed command refused: expired'))).toBe('expired: signed command refused: expired');
    expect(signedRefusal(new OtaError('ERR_OTA_DOCUMENT', 'signed release refused: schema'))).toMatch(/^schema: /);
    expect(signedRefusal(new OtaError('ERR_OTA_IO', 'disk'))).toBeNull();
    expect(signedRefusal(new Error('bug'))).toBeNull();
  });

  it('prints one JSON object per line, and never a line past the limit', () => {
    const out: string[] = [];
    const w = lineWriter((l) => out.push(l));
    w.write({ type: 'done', nextWakeMs: null, polled: true });
    expect(out).toEqual(['{"type":"done","nextWakeMs":null,"polled":true}']);
    const huge = { type: 'event', untrusted: false, doc: { reason: 'x'.repeat(MAX_LINE_BYTES) } } as unknown as Parameters<typeof w.write>[0];
    expect(() => w.write(huge)).toThrow(/over 8388608 bytes, this is a bug/);
    expect(out).toHaveLength(1);
  });
});
