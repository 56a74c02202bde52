/**
 * The agent's systemd unit (docs/agent.md, "Packaging"), as text from data so the one place that holds the relay's
 * Node flags (device-agent/daemon/node-flags.ts) is also where the service gets them.
 *
 * @example
 * agentUnit({ relayArgs: ['--node-options=--jitless'], nodeOptions: null }); // "[Unit]\nDescription=..."
 */
export interface UnitOptions {
  /**
   * Arguments before `daemon`: the relay's flags as `--node-options=...` for a single executable that takes them so
   * (device-agent/daemon/node-flags.ts, seaRelayLaunch). Default none.
   */
  relayArgs?: readonly string[];
  /** NODE_OPTIONS for the relay, for a single executable that reads its flags there (Node 20's). Null: none. */
  nodeOptions: string | null;
}

export function agentUnit(options: UnitOptions): string {
  const env = options.nodeOptions === null ? [] : [`Environment="NODE_OPTIONS=${options.nodeOptions}"`];
  const args = (options.relayArgs ?? []).map(unitWord);
  return [
    '# The deb-ota update agent (docs/agent.md, "Packaging").',
    '[Unit]',
    'Description=deb-ota update agent',
    // Started with the services it may check, as soon as the network is up or its wait gave up (the
    // wait-online services time out; network-online.target is reached either way): verifying and
    // committing are local and need no broker, so a boot into an update is judged minutes after boot
    // even when the update broke the network. After time-sync.target: a clock from 1970 would refuse
    // every signed release as not yet valid (nothing here pulls it in, so it never waits for a sync).
    'Wants=network-online.target',
    'After=network-online.target time-sync.target',
    // Restarting forever: a first boot before the machine-id exists, or a broker far away, ends on its own.
    'StartLimitIntervalSec=0',
    // Only on a system booted into an OSTree deployment (the bootloader passed ostree=): elsewhere the agent
    // has nothing to update and would fail and restart every 10 s for ever.
    'ConditionKernelCommandLine=ostree',
    '',
    '[Service]',
    'Type=simple',
    ['ExecStart=/usr/bin/ota-agent', ...args, 'daemon'].join(' '),
    ...env,
    'Restart=on-failure',
    'RestartSec=10s',
    // The relay SIGTERMs its worker, waits for it, says offline and exits 0 (docs/agent.md, "The relay").
    'KillMode=mixed',
    'TimeoutStopSec=90s',
    'StateDirectory=ota',
    'StateDirectoryMode=0700',
    // Where the workers write koffi's native module before loading it (docs/agent.md, "Shipping the agent").
    'RuntimeDirectory=ota-agent',
    'RuntimeDirectoryMode=0700',
    'SyslogIdentifier=ota-agent',
    // Hardening that leaves the agent its work (docs/agent.md, "Packaging"): it writes /sysroot, /boot, the
    // bootloader's env, /etc and /var; libostree unshares a mount namespace to write a read-only /sysroot;
    // it runs systemctl, reboot and the owner's health scripts, which may need any device or socket. Not
    // RestrictSUIDSGID: a pull writes the commit's setuid files (su, mount, sudo) into the repository.
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    'ProtectHome=read-only',
    'ProtectControlGroups=yes',
    'RestrictRealtime=yes',
    'LockPersonality=yes',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** One word of ExecStart=: in double quotes when it holds a blank (systemd.service(5), "Command lines"). */
function unitWord(arg: string): string {
  if (/["\\$%;]/.test(arg)) throw new Error(`the unit's ExecStart cannot carry ${JSON.stringify(arg)} as one word: this is a bug`);
  return /\s/.test(arg) ? `"${arg}"` : arg;
}
