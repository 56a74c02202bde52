/**
 * The rollback proof as one scenario on a qemu board (boot-e2e.ts runs each step): build the
 * reference image, boot it to multi-user, then deploy an update that cannot boot next to it, arm
 * the counter, and boot until the bootloader has counted bootlimit failures and rolled back to
 * the first deployment by itself; `checkScenario` states every claim as a check.
 *
 * @example
 * const r = await runScenario(await E2e.create({ board: 'qemu-arm64', work, log: console.log }));
 * const failed = checkScenario(r).filter((c) => !c.ok);
 */
import { E2e, envLine, fmt, type BootRun, type BuiltImage, type E2eDisk } from './boot-e2e.js';
import { rollbackLine, type E2eBootloader } from './e2e-bootloaders.js';
import { MULTI_USER } from './report-package.js';

export interface ScenarioOptions {
  /** Also deploy the broken update B next to A and boot until the bootloader has rolled back (default true). */
  rollback?: boolean;
  /** Kills a boot that has not reached multi-user by then (default 15 min: 1-2 min here under TCG). */
  multiUserTimeoutMs?: number;
  /** Kills a boot of B that has not panicked and reset by then (default 5 min). */
  panicTimeoutMs?: number;
}

export interface ScenarioResult {
  board: string;
  /** `U-Boot` or `GRUB`, and the names checkScenario words its claims with. */
  bootloader: Pick<E2eBootloader, 'name' | 'script' | 'envName'>;
  a: BuiltImage;
  diskA: E2eDisk;
  /** The env on disk A as ota image wrote it, before A's boot. */
  envA: string;
  bootA: BootRun;
  /** Bootloader errors on A's console (E2eBootloader `errors`). */
  errorsA: string[];
  b?: BuiltImage;
  diskAB?: E2eDisk;
  /** The env after arming, as on the disk. */
  armed?: string;
  /** The boots of the two-deployment disk: bootlimit ones on B, then the one the bootloader rolled back. */
  rollbackBoots?: BootRun[];
  steps: { name: string; seconds: number }[];
}

export async function runScenario(e2e: E2e, options: ScenarioOptions = {}): Promise<ScenarioResult> {
  const steps: ScenarioResult['steps'] = [];
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const r = await e2e.step(name, fn);
    steps.push({ name, seconds: (Date.now() - t0) / 1000 });
    return r;
  };
  const multiUser = options.multiUserTimeoutMs ?? 15 * 60_000;
  const panicMs = options.panicTimeoutMs ?? 5 * 60_000;
  const bootlimit = e2e.board.bootloader.bootlimit;
  const bl = e2e.bootloader;
  const entryLines = (disk: E2eDisk) => disk.entries.forEach((x, i) => e2e.log(`    entry ${i}: ${x.kernel}${x.title ? ` (${x.title})` : ''}`));

  const { manifest } = await step('1a. signed local archive with ota-e2e-report (dpkg-deb), + manifest', () => e2e.writeManifest());
  const a = await step(`1b. ota build ${manifest} (minbase + systemd-sysv + ota-e2e-report, ${e2e.board.name})`, () => e2e.buildReference(manifest));
  e2e.log(`    A = ${a.ref} ${a.checksum} (kernel ${a.kernel}, ${a.packages} packages${a.noop ? ', built already' : ''})`);
  const firmware = await e2e.firmware(a.ref);
  const diskA = await step('2a. ota image (A alone)', () => e2e.makeDisk('a.img', [a.ref]));
  e2e.log(`    ${diskA.output}: ${Math.round(diskA.plan.totalBytes / 2 ** 20)} MiB`);
  entryLines(diskA);
  const envA = (await e2e.readEnv(diskA)).text;
  e2e.log(`    ${bl.envName}: ${envLine(envA)}`);
  const bootA = await step(`2b. boot A under ${e2e.board.qemu!.system} (${bl.name}) to multi-user`, () => e2e.boot(diskA, { firmware, until: MULTI_USER, timeoutMs: multiUser, name: 'boot-A' }));
  e2e.log(`    booted ${bootA.booted ?? '(nothing reported)'} in ${fmt(bootA.seconds)}: ${bootA.booted === a.checksum ? 'the built commit A' : 'NOT the built commit'}`);
  const result: ScenarioResult = { board: e2e.board.name, bootloader: { name: bl.name, script: bl.script, envName: bl.envName }, a, diskA, envA, bootA, errorsA: bl.errors(bootA.console), steps };
  if (options.rollback === false) return result;

  const b = await step('3a. commit B = A with an initramfs that cannot start init', () => e2e.makeBrokenUpdate(a.ref, `${a.ref}-broken`));
  e2e.log(`    B = ${b.ref} ${b.checksum}`);
  const diskAB = await step('3b. ota image with A, then B deployed as the default (entry 0 = B, entry 1 = A)', () => e2e.makeDisk('ab.img', [a.ref, b.ref]));
  entryLines(diskAB);
  await step(`3c. arm the update (${bl.name} backend armForUpgrade on a staged ${bl.envName}, mtools)`, () => e2e.armUpgrade(diskAB));
  const armed = (await e2e.readEnv(diskAB)).text;
  e2e.log(`    ${bl.envName}: ${envLine(armed)}`);
  Object.assign(result, { b, diskAB, armed, rollbackBoots: [] });
  for (let n = 1; n <= bootlimit; n++) {
    const r = await step(`3d. boot ${n} of ${bootlimit} on B (expect a kernel panic and a reset)`, () => e2e.boot(diskAB, { firmware, timeoutMs: panicMs, name: `boot-B${n}` }));
    result.rollbackBoots!.push(r);
    e2e.log(`    entry ${r.entries.map((x) => x.entry).join(',')}, panic: ${r.panic ?? 'none'}; ${bl.envName}: ${envLine(r.env)}`);
  }
  const rb = await step(`3e. boot ${bootlimit + 1}: ${bl.name} falls back to A by itself, to multi-user`, () => e2e.boot(diskAB, { firmware, until: MULTI_USER, timeoutMs: multiUser, name: 'boot-rollback' }));
  result.rollbackBoots!.push(rb);
  e2e.log(`    entry ${rb.entries.map((x) => x.entry).join(',')}, booted ${rb.booted ?? '(nothing reported)'}: ${rb.booted === a.checksum ? 'A' : rb.booted === b.checksum ? 'B!' : 'unknown'}; ${bl.envName}: ${envLine(rb.env)}`);
  return result;
}

/** The kernel command line `ota image` set up: BOOT_IMAGE (GRUB's), its kernel arguments in order, then OSTree's ostree=. */
export function expectedCmdline(disk: E2eDisk, entry: number): RegExp {
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const kernel = disk.entries[entry]?.kernel ?? '(none)';
  return new RegExp(`^(?:BOOT_IMAGE=${esc(kernel)} )?${disk.kargs.map(esc).join(' ')} ostree=/ostree/boot\\.[01]/[^/ ]+/[0-9a-f]{64}/\\d+$`);
}

/** Every claim the proof makes, as checks that pass or fail with what was seen. */
export function checkScenario(r: ScenarioResult, bootlimit = 3): { what: string; ok: boolean; seen: string }[] {
  const out: { what: string; ok: boolean; seen: string }[] = [];
  const check = (what: string, ok: boolean, seen: string) => out.push({ what, ok, seen });
  const { name: bl, script, envName } = r.bootloader;
  const k0 = r.diskA.entries[0]?.kernel;
  check(`A: ${bl} ran ${script} and booted OSTree entry 0 (A's kernel)`, r.bootA.entries.length === 1 && r.bootA.entries[0]!.entry === 0 && r.bootA.entries[0]!.kernel === k0, JSON.stringify(r.bootA.entries));
  check(`A: ${bl} reported no error`, r.errorsA.length === 0, r.errorsA.join(' | '));
  check("A: the kernel command line is ota image's arguments and OSTree's ostree=", expectedCmdline(r.diskA, 0).test(r.bootA.cmdline ?? ''), r.bootA.cmdline ?? '(none)');
  check('A: reached multi-user.target', r.bootA.ended === 'until' && MULTI_USER.test(r.bootA.console), r.bootA.ended);
  check('A: the booted deployment is the built commit', r.bootA.booted === r.a.checksum, `${r.bootA.booted} vs ${r.a.checksum}`);
  check('A: nothing pending, nothing counted', r.bootA.state.bootcount === 0 && !r.bootA.state.upgradeAvailable && !r.bootA.state.rollback, envLine(r.bootA.env));
  check(`A: ${envName} is as ota image wrote it (nothing written on an ordinary boot)`, r.bootA.env === r.envA, envLine(r.bootA.env));
  if (!r.b || !r.diskAB || !r.rollbackBoots) return out;
  const bKernel = r.diskAB.entries[0]?.kernel;
  const aKernel = r.diskAB.entries[1]?.kernel;
  check('A+B disk: entry 0 is B (new boot checksum), entry 1 is A', r.diskAB.entries.length === 2 && bKernel !== undefined && aKernel === k0 && bKernel !== aKernel, `${bKernel} / ${aKernel}`);
  check('armed: bootcount=0 upgrade_available=1 rollback=0', /^bootcount=0$/m.test(r.armed ?? '') && /^upgrade_available=1$/m.test(r.armed ?? '') && /^rollback=0$/m.test(r.armed ?? ''), envLine(r.armed ?? ''));
  for (let n = 1; n <= bootlimit; n++) {
    const boot = r.rollbackBoots[n - 1];
    if (!boot) {
      check(`B boot ${n}: happened`, false, 'missing');
      continue;
    }
    check(`B boot ${n}: ${bl} booted entry 0 (B)`, boot.entries.length === 1 && boot.entries[0]!.entry === 0 && boot.entries[0]!.kernel === bKernel, JSON.stringify(boot.entries));
    check(`B boot ${n}: the kernel panicked and qemu exited on the reboot`, boot.ended === 'exited' && boot.panic !== undefined && boot.booted === undefined, `${boot.ended}, ${boot.panic}`);
    check(`B boot ${n}: ${envName} bootcount=${n} upgrade_available=1 rollback=0`, boot.state.bootcount === n && boot.state.upgradeAvailable && !boot.state.rollback, envLine(boot.env));
  }
  const rb = r.rollbackBoots[bootlimit];
  if (!rb) {
    check('rollback boot: happened', false, 'missing');
    return out;
  }
  check(`rollback boot: ${bl} says boot ${bootlimit + 1} is past bootlimit ${bootlimit}`, rb.console.includes(rollbackLine(bootlimit + 1, bootlimit)), rollbackLine(bootlimit + 1, bootlimit));
  check(`rollback boot: ${bl} booted entry 1 (A's kernel)`, rb.entries.length === 1 && rb.entries[0]!.entry === 1 && rb.entries[0]!.kernel === aKernel, JSON.stringify(rb.entries));
  check(`rollback boot: ${envName} rollback=1 upgrade_available=0`, rb.state.rollback && !rb.state.upgradeAvailable && rb.state.bootcount === bootlimit + 1, envLine(rb.env));
  check('rollback boot: A reached multi-user, and A is what booted', rb.ended === 'until' && rb.booted === r.a.checksum, `${rb.ended}, ${rb.booted}`);
  return out;
}
