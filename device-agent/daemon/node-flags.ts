/**
 * The Node flags the relay runs with (docs/agent.md, "Footprint of the relay"), in one place so the
 * bench, the tests and the systemd unit run the process the figures were measured on. Each flag
 * was measured on x86_64 with the relay connected to Mosquitto: a 1 MB semi-space, no V8 worker
 * pool, --jitless (the relay mostly waits: its CPU stays near 0.1%) and --no-node-snapshot (Node
 * builds its builtins at start instead of mapping its whole snapshot in: 3.6 MB less on Node 26).
 * From Node 24 also V8's --lite-mode and --memory-saver-mode (1.1 MB less on Node 26, at 0.07% of
 * a core instead of 0.02%), and V8's memory reducer started 1 s after start instead of 30 s (its
 * first compacting collection gives back the start-up's 2 MB of heap pages half a minute sooner),
 * and the bytecode of functions not run for a second dropped at the next collection instead of after
 * six collections and 30 s (the start-up's functions, run once, go; a function run again is compiled
 * again from its source, in the heap anyway: 0.9 MB less at 0.02% of a core), which NODE_OPTIONS
 * refuses: Node 20's executable goes without them.
 * Workers and verbs never get these flags (self.ts): --jitless also takes WebAssembly away, and
 * undici's HTTP parser is WebAssembly.
 *
 * @example
 * spawn(process.execPath, [...relayNodeFlags(), 'bin/ota-agent.js', 'daemon']);
 */
export function relayNodeFlags(nodeVersion: string = process.versions.node): string[] {
  const base = ['--max-semi-space-size=1', '--v8-pool-size=0', '--jitless', '--no-node-snapshot'];
  // Node 20 warns once at start that --jitless leaves no WebAssembly unless told not to expose it;
  // Node 24 and later print no warning and refuse the flag anywhere.
  return major(nodeVersion) < 24 ? [...base, '--no-expose-wasm'] : [...base, ...NODE_24_FLAGS];
}

/**
 * The Node flags a worker runs with (self.ts): V8's new space starts at 8 MB instead of 1, so the
 * start-up's allocations (the CLI's modules, the config, libostree's bindings) need no scavenge
 * before the job begins: on x86_64 a start to `--version` took 8 to 14 ms less, and 25 ms less CPU,
 * for a few MB more of a process that lives only while its job runs. None where NODE_OPTIONS is
 * the only way in (Node 20's executable): it refuses the flag.
 *
 * @example
 * spawn(process.execPath, [...workerNodeFlags(), 'bin/ota-agent.js', 'worker', 'tick']);
 */
export function workerNodeFlags(): string[] {
  return ['--min-semi-space-size=8'];
}

/**
 * How a single executable of `nodeVersion` gets the relay's flags
 * (docs/agent.md, "Shipping the agent"): it takes no Node flags on its command line. build:agent gives the ones made with
 * `--build-sea` (Node 25.5 and later) `execArgvExtension: "cli"`, so they take
 * `--node-options="..."` on the command line, any flag allowed, and ignore NODE_OPTIONS; Node
 * 20's reads NODE_OPTIONS, which refuses some flags. Not `execArgv` in the executable itself: it
 * would apply to workers and verbs too (see relayNodeFlags).
 *
 * @example
 * const l = seaRelayLaunch('26.12.1'); // { args: ['--node-options=--max-semi-space-size=1 ...'], nodeOptions: null }
 * spawn('/usr/bin/ota-agent', [...l.args, 'daemon']);
 */
export function seaRelayLaunch(nodeVersion: string): { args: string[]; nodeOptions: string | null } {
  const flags = relayNodeFlags(nodeVersion);
  if (seaTakesNodeOptionsArg(nodeVersion)) return { args: [`--node-options=${flags.join(' ')}`], nodeOptions: null };
  // --no-expose-wasm only silenced Node 20's warning, and NODE_OPTIONS refuses it.
  return { args: [], nodeOptions: flags.filter((f) => f !== '--no-expose-wasm').join(' ') };
}

/** Whether build:agent makes this Node's executable with `--build-sea` and `execArgvExtension: "cli"` (scripts/build-agent/plan.ts). */
export function seaTakesNodeOptionsArg(nodeVersion: string): boolean {
  const [maj, min] = nodeVersion.split('.').map(Number) as [number, number];
  return maj > 25 || (maj === 25 && min >= 5);
}

const NODE_24_FLAGS = ['--lite-mode', '--memory-saver-mode', '--gc-memory-reducer-start-delay-ms=1000', '--bytecode-old-age=1', '--bytecode-old-time=1'];

function major(version: string): number {
  return Number(version.split('.')[0]);
}

/** Every flag any Node's relay may carry, for taking them out of a worker's command line and environment. */
export const ALL_RELAY_NODE_FLAGS: readonly string[] = [...new Set([...relayNodeFlags('20.0.0'), ...relayNodeFlags('99.0.0')])];
