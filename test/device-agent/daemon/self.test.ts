import { describe, expect, it } from 'vitest';
import { ALL_RELAY_NODE_FLAGS, relayNodeFlags, seaRelayLaunch, workerNodeFlags } from '../../../device-agent/daemon/node-flags.js';
import { isRelayArgv } from '../../../device-agent/daemon/route.js';
import { selfArgv, selfEnv } from '../../../device-agent/daemon/self.js';

describe('how the relay starts its workers (docs/agent.md, "The daemon and its workers")', () => {
  it("from dist/: the same node and script, without the relay's flags and with the workers' own, once", () => {
    const argv = selfArgv(['worker', 'tick']);
    expect(argv.slice(-2)).toEqual(['worker', 'tick']);
    expect(argv[0]).toBe(process.execPath);
    expect(argv.at(-3)).toBe(process.argv[1]);
    expect(argv.some((a) => ALL_RELAY_NODE_FLAGS.includes(a))).toBe(false);
    for (const f of workerNodeFlags()) expect(argv.filter((a) => a === f)).toHaveLength(1);
  });

  it("takes the relay's flags out of NODE_OPTIONS and keeps the rest", () => {
    expect(selfEnv({ NODE_OPTIONS: seaRelayLaunch('20.11.0').nodeOptions!, PATH: '/bin' })).toEqual({ PATH: '/bin' });
    expect(selfEnv({ NODE_OPTIONS: `--jitless --max-old-space-size=200 --v8-pool-size=0`, PATH: '/bin' })).toEqual({ NODE_OPTIONS: '--max-old-space-size=200', PATH: '/bin' });
    expect(selfEnv({ PATH: '/bin' })).toEqual({ PATH: '/bin' });
  });

  it('NODE_OPTIONS holds the relay flags Node accepts there (not --no-expose-wasm)', () => {
    expect(seaRelayLaunch('20.11.0').nodeOptions!.split(' ')).toEqual(relayNodeFlags('20.11.0').filter((f) => f !== '--no-expose-wasm'));
  });

  it('routes `daemon` to the relay, and `daemon --once`, `--help` and the verbs to the CLI', () => {
    expect(isRelayArgv(['daemon'])).toBe(true);
    expect(isRelayArgv(['--root', '/r', 'daemon'])).toBe(true);
    expect(isRelayArgv(['--root=/r', 'daemon'])).toBe(true);
    expect(isRelayArgv(['daemon', '--once'])).toBe(false);
    expect(isRelayArgv(['daemon', '--help'])).toBe(false);
    expect(isRelayArgv(['status'])).toBe(false);
    expect(isRelayArgv(['--root', 'daemon', 'status'])).toBe(false);
  });
});
