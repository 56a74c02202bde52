/**
 * The Node flags the relay runs with (docs/agent.md, "The daemon and its workers"), in one place so
 * the bench and the systemd unit run the same process the figures were measured on.
 *
 * @example
 * spawn(process.execPath, [...RELAY_NODE_FLAGS, 'bin/ota-agent.js', 'daemon']);
 */
export const RELAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--v8-pool-size=0'];
