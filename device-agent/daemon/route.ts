/**
 * Whether an `ota-agent` command line is the relay's
 * (docs/agent.md, "The daemon and its workers"): `daemon`, after an optional `--root DIR`, goes to the lean relay without loading the
 * CLI; `daemon --once` and `daemon --help` stay with the CLI. Both entries use it, bin/ota-agent.js
 * and the one-file agent's (device-agent/sea/entry.ts), and it imports nothing.
 *
 * @example
 * isRelayArgv(['--root', '/tmp/dev', 'daemon']); // true
 * isRelayArgv(['daemon', '--once']); // false
 */
export function isRelayArgv(args: readonly string[]): boolean {
  const rest = args[0] === '--root' ? args.slice(2) : args[0]?.startsWith('--root=') ? args.slice(1) : args;
  return rest[0] === 'daemon' && !args.some((a) => a === '--once' || a === '-h' || a === '--help');
}
