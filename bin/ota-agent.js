#!/usr/bin/env node
// The `ota-agent` command: the compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
// `daemon` (after an optional --root DIR) goes to the lean relay without loading the CLI, so the
// long-lived process never holds commander, zod or libostree (docs/agent.md, "The daemon and its workers");
// `daemon --once` and `daemon --help` stay with the CLI (device-agent/daemon/route.ts).
const { isRelayArgv } = await import('../dist/device-agent/daemon/route.js');

if (isRelayArgv(process.argv.slice(2))) {
  const { runRelay } = await import('../dist/device-agent/daemon/main.js');
  // Exit once the relay has stopped: mqtt.js can leave a keepalive interval behind a client the
  // broker dropped, which would hold the process for up to 1.5 keepalives (90 s by default, when
  // systemd's stop timeout would SIGKILL it). stderr (a pipe, or the journal's socket) is written synchronously on Linux.
  process.exit(await runRelay(process.argv.slice(2)));
} else {
  const { runAsProcess } = await import('../dist/device-agent/cli/process.js');
  await runAsProcess();
}
