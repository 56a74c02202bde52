import { describe, expect, it } from 'vitest';
import { ota } from '../../helpers/cli.js';

// `ota fleet rollback`'s bad input is refused before anything is loaded, connected or sent: exit 2
// with the reason (a broker that is not there would otherwise be the error).

const base = ['fleet', 'rollback', '--broker', 'mqtt://127.0.0.1:1', '--key', '/nonexistent-key-dir'];

describe('ota fleet rollback: bad input, refused before the broker', () => {
  it.each([
    [[], 'give either --device ID or --group GROUP'],
    [['--device', 'gw-1', '--group', 'lab'], 'give either --device ID or --group GROUP'],
    [['--device', 'gw-1', '--below-floor'], '--below-floor needs --to VERSION'],
    [['--device', 'gw-1', '--to', 'not a version'], '--to: '],
    [['--group', 'lab', '--timeout', '10x'], '--timeout takes a duration such as 30s, 10m or 1h, not "10x"'],
    [['--device', 'gw/1'], 'invalid device id "gw/1"'],
  ])('%j', async (args, message) => {
    const r = await ota(...base, ...args);
    expect(r.code, r.err).toBe(2);
    expect(r.out).toEqual([]);
    expect(r.err).toContain(message);
  });
});
