/**
 * The Node flags the relay runs with (docs/agent.md, "The daemon and its workers"), in one place so
 * the bench and the systemd unit run the process the figures were measured on. Measured on x86_64,
 * Node 20, connected to mosquitto with telemetry every second, VmRSS after 30 s: no flags 62.5 MB;
 * a 1 MB semi-space and no V8 worker pool 58.0 MB; and --jitless 47.4 MB (CPU stays near 0.2%: the
 * relay mostly waits); and --no-node-snapshot 45.3 MB (Node builds its builtins at start instead of
 * mapping its snapshot in: 60 ms more, once); 44.5 MB 80 s after start. --no-expose-wasm only silences the warning --jitless
 * prints otherwise.
 * Workers do not inherit these flags (self.ts): they compute, and the interpreter would slow them.
 *
 * @example
 * spawn(process.execPath, [...RELAY_NODE_FLAGS, 'bin/ota-agent.js', 'daemon']);
 */
export const RELAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--v8-pool-size=0', '--jitless', '--no-expose-wasm', '--no-node-snapshot'];

/**
 * The same flags as one NODE_OPTIONS value, for the one-file agent
 * (docs/agent.md, "Shipping the agent"): a single executable takes no Node flags on its command
 * line, but it reads NODE_OPTIONS, so its service unit sets this. Node refuses --no-expose-wasm
 * there (and Node 24 and later anywhere); it only silenced a warning that Node 26 no longer
 * prints (Node 20 prints it once at start). Workers do not inherit it (self.ts).
 *
 * @example
 * `Environment=NODE_OPTIONS=${RELAY_NODE_OPTIONS}` // in the service unit
 */
export const RELAY_NODE_OPTIONS: string = RELAY_NODE_FLAGS.filter((f) => f !== '--no-expose-wasm').join(' ');
