/**
 * A board kept powered for the update proof (update-scenario.ts): its disk booted under
 * qemu-system again each time qemu exits (`-no-reboot` makes every reboot, the agent's
 * `systemctl reboot` and a panicking kernel's alike, end the run: starting it again is the reset),
 * until `stop()`. The guest's only way out is qemu's user network with `restrict=on` and two
 * `guestfwd` rules: HOST_ADDRESS:8080 to `ota serve`'s HTTP port and HOST_ADDRESS:1883 to its
 * broker, both on 127.0.0.1 here; each guest connection is relayed by guest-relay.mjs, which
 * counts its bytes at the wire.
 *
 * @example
 * const dev = new PoweredDevice(e2e, disk, { firmware, ports: { http: 8123, mqtt: 1884 }, countsDir: work });
 * dev.start();
 * await dev.stop();
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Board } from '../../host-tools/board/schema.js';
import type { BootRun, E2e, E2eDisk } from './boot-e2e.js';

/** Where the guest reaches the host's services (a guestfwd address, not a real host). */
export const HOST_ADDRESS = '10.0.2.100';
export const GUEST_PORTS = { http: 8080, mqtt: 1883 } as const;
/** What the device is provisioned with. */
export const GUEST_REMOTE = `http://${HOST_ADDRESS}:${GUEST_PORTS.http}`;
export const GUEST_BROKER = `mqtt://${HOST_ADDRESS}:${GUEST_PORTS.mqtt}`;

const RELAY = join(import.meta.dirname, 'guest-relay.mjs');

/**
 * qemu's network arguments: user networking with `restrict=on` (no route to the host or beyond)
 * and a `cmd:` guestfwd per service, so each guest connection gets its own relay process.
 */
export function guestNetArgs(board: Board, hostPorts: { http: number; mqtt: number }, countsDir: string): string[] {
  const fwd = (guestPort: number, hostPort: number, counts: string) => `guestfwd=tcp:${HOST_ADDRESS}:${guestPort}-cmd:${process.execPath} ${RELAY} 127.0.0.1 ${hostPort} ${join(countsDir, counts)}`;
  // virt boards: virtio-mmio, as their disk; PCs: virtio-pci
  const nic = board.qemu?.machine === 'virt' ? 'virtio-net-device' : 'virtio-net-pci';
  return [
    '-netdev', ['user', 'id=n0', 'restrict=on', fwd(GUEST_PORTS.http, hostPorts.http, 'http.counts'), fwd(GUEST_PORTS.mqtt, hostPorts.mqtt, 'mqtt.counts')].join(','),
    '-device', `${nic},netdev=n0`,
  ];
}

/** Bytes the guest received over HTTP so far (sum of the relay's per-connection counts). */
export async function httpBytesToGuest(countsDir: string): Promise<number> {
  const text = await readFile(join(countsDir, 'http.counts'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).reduce((n, l) => n + Number(l.split(' ')[1] ?? 0), 0);
}

export interface PoweredOptions {
  firmware: string;
  ports: { http: number; mqtt: number };
  /** Where the relay appends its counts (http.counts, mqtt.counts). */
  countsDir: string;
  /** Kills one boot that runs this long (default 30 min): a hung guest fails the proof. */
  bootTimeoutMs?: number;
}

export class PoweredDevice {
  /** Every boot so far, in order. */
  readonly boots: BootRun[] = [];
  private readonly power = new AbortController();
  private loop: Promise<void> | undefined;
  private failure: Error | undefined;
  private readonly failed: Promise<never>;
  private fail!: (e: Error) => void;
  private readonly onBoot = new Set<() => void>();

  constructor(
    private readonly e2e: E2e,
    private readonly disk: E2eDisk,
    private readonly options: PoweredOptions,
  ) {
    this.failed = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    this.failed.catch(() => {});
  }

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    await writeFile(join(this.options.countsDir, 'http.counts'), '', { flag: 'a' });
    const net = guestNetArgs(this.e2e.board, this.options.ports, this.options.countsDir);
    while (!this.power.signal.aborted) {
      const name = `boot-${this.boots.length + 1}`;
      try {
        const r = await this.e2e.boot(this.disk, { firmware: this.options.firmware, timeoutMs: this.options.bootTimeoutMs ?? 30 * 60_000, name, net, signal: this.power.signal });
        this.boots.push(r);
        if (r.ended === 'exited') this.e2e.log(`    ${name}: qemu exited (a reboot) after ${r.seconds.toFixed(1)}s${r.panic ? `, panic: ${r.panic}` : ''}`);
      } catch (e) {
        this.failure = e as Error;
        this.fail(this.failure);
        return;
      }
      for (const f of [...this.onBoot]) f();
    }
  }

  /** Resolves with `p`, or rejects as soon as a boot failed (hung past its timeout, qemu failing to start). */
  race<T>(p: Promise<T>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return Promise.race([p, this.failed]);
  }

  /** Resolves once `n` boots have ended (counting from the first). */
  bootsEnded(n: number): Promise<void> {
    return this.race(new Promise<void>((resolve) => {
      const check = () => {
        if (this.boots.length < n) return;
        this.onBoot.delete(check);
        resolve();
      };
      this.onBoot.add(check);
      check();
    }));
  }

  /** Powers the board off (qemu stopped) and waits for the last boot to end. */
  async stop(): Promise<void> {
    this.power.abort();
    await this.loop;
  }
}
