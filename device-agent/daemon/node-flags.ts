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
