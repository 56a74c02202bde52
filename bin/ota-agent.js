#!/usr/bin/env node
// The `ota-agent` command: the compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
// `daemon` (after an optional --root DIR) goes to the lean relay without loading the CLI, so the
// long-lived process never holds commander, zod or libostree (docs/agent.md, "The daemon and its workers");
// `daemon --once` and `daemon --help` stay with the CLI.
const args = process.argv.slice(2);
const rest = args[0] === '--root' ? args.slice(2) : args[0]?.startsWith('--root=') ? args.slice(1) : args;
const relay = rest[0] === 'daemon' && !args.some((a) => a === '--once' || a === '-h' || a === '--help');

if (relay) {
  const { runRelay } = await import('../dist/device-agent/daemon/main.js');
  process.exitCode = await runRelay(args);
} else {
  const { runAsProcess } = await import('../dist/device-agent/cli/process.js');
  await runAsProcess();
}
