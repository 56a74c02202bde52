import { describe, expect, it } from 'vitest';
import { ALL_RELAY_NODE_FLAGS, relayNodeFlags, seaRelayLaunch, seaTakesNodeOptionsArg } from '../../../device-agent/daemon/node-flags.js';

describe('the relay\'s Node flags per Node version (docs/agent.md, "Footprint of the relay")', () => {
  it('Node 20 gets --no-expose-wasm on its command line; 24 and later, which refuse it, do not', () => {
    expect(relayNodeFlags('20.11.0')).toContain('--no-expose-wasm');
    expect(relayNodeFlags('20.20.2')).toContain('--no-expose-wasm');
    for (const v of ['24.0.0', '24.22.3', '25.5.0', '26.12.1']) expect(relayNodeFlags(v), v).not.toContain('--no-expose-wasm');
    for (const v of ['20.11.0', '26.12.1']) expect(relayNodeFlags(v), v).toEqual(expect.arrayContaining(['--jitless', '--no-node-snapshot', '--max-semi-space-size=1']));
  });

  it("V8's memory-saving modes from Node 24, never in Node 20's NODE_OPTIONS, which refuses them", () => {
    expect(relayNodeFlags('26.12.1')).toEqual(expect.arrayContaining(['--lite-mode', '--memory-saver-mode', '--gc-memory-reducer-start-delay-ms=1000', '--bytecode-old-age=1']));
    expect(relayNodeFlags('20.11.0')).not.toContain('--lite-mode');
    expect(seaRelayLaunch('20.11.0').nodeOptions).not.toMatch(/lite-mode|memory-saver-mode|memory-reducer|bytecode/);
  });

  it('defaults to the running Node', () => {
    expect(relayNodeFlags()).toEqual(relayNodeFlags(process.versions.node));
  });

  it('a --build-sea executable (Node 25.5 and later) takes them as one --node-options= argument, no NODE_OPTIONS', () => {
    expect(seaTakesNodeOptionsArg('25.4.0')).toBe(false);
    expect(seaTakesNodeOptionsArg('25.5.0')).toBe(true);
    expect(seaTakesNodeOptionsArg('26.12.1')).toBe(true);
    expect(seaRelayLaunch('26.12.1')).toEqual({ args: [`--node-options=${relayNodeFlags('26.12.1').join(' ')}`], nodeOptions: null });
  });

  it("Node 20's executable reads them from NODE_OPTIONS, without --no-expose-wasm, which NODE_OPTIONS refuses", () => {
    const l = seaRelayLaunch('20.11.0');
    expect(l.args).toEqual([]);
    expect(l.nodeOptions!.split(' ')).toEqual(relayNodeFlags('20.11.0').filter((f) => f !== '--no-expose-wasm'));
  });

  it('the flags a worker is cleaned of cover every version\'s', () => {
    for (const v of ['20.11.0', '24.0.0', '26.12.1']) for (const f of relayNodeFlags(v)) expect(ALL_RELAY_NODE_FLAGS, `${v} ${f}`).toContain(f);
  });
});
