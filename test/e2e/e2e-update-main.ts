/**
 * `scripts/e2e-update BOARD [--work DIR] [--host-suites S1,S2] [--keep]`: the update proof on a booted qemu
 * board (update-scenario.ts says what it proves), printing each step's time, the bytes the device
 * downloaded, and every check. Exit 0 when every check passed, 1 when one failed, 2 on bad usage. The
 * work directory (console logs, disks, the repository) is kept on failure and with --keep; with
 * --work DIR a second run reuses the builds.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { E2e, fmt } from './boot-e2e.js';
import { AGENT_RSS } from './report-package.js';
import { checkUpdateScenario, runUpdateScenario, stepLines } from './update-scenario.js';

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({ allowPositionals: true, options: { work: { type: 'string' }, 'host-suites': { type: 'string' }, keep: { type: 'boolean' } } });
  } catch (e) {
    console.error(`e2e-update: ${(e as Error).message}`);
    return 2;
  }
  const board = args.positionals[0];
  if (!board || args.positionals.length > 1) {
    console.error('usage: scripts/e2e-update BOARD [--work DIR] [--host-suites S1,S2] [--keep]   (BOARD: qemu-arm64, qemu-armhf, x86_64-efi)');
    return 2;
  }
  const work = args.values.work ? resolve(args.values.work) : await mkdtemp(join(tmpdir(), `ota-e2e-update-${board}-`));
  const t0 = Date.now();
  const log = (line: string) => console.log(line);
  log(`e2e-update: ${board}, work dir ${work}, started ${new Date().toISOString()}`);
  let ok = false;
  try {
    const hostSuites = args.values['host-suites']?.split(',').filter(Boolean);
    const e2e = await E2e.create({ board, work, log, hostSuites });
    const r = await runUpdateScenario(e2e);
    const checks = checkUpdateScenario(r, e2e.board.bootloader.bootlimit);
    log('');
    log(`e2e-update: steps (rollback command: ${r.rollbackVia})`);
    for (const l of stepLines(r)) log(l);
    log(`e2e-update: ${r.boots.length} boots: ${r.boots.map((b) => `${fmt(b.seconds)}${b.panic ? ' (panic)' : ''}`).join(', ')}`);
    for (const l of await rssLines(work)) log(l);
    log('e2e-update: checks');
    for (const c of checks) log(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.what}${c.ok ? '' : `: saw ${c.seen}`}`);
    ok = checks.every((c) => c.ok);
    log(`e2e-update: ${board} ${ok ? 'PASSED' : 'FAILED'} in ${fmt((Date.now() - t0) / 1000)}`);
  } catch (e) {
    const err = e as Error & { details?: string[]; hint?: string };
    console.error(`e2e-update: FAILED after ${fmt((Date.now() - t0) / 1000)}: ${err.message}`);
    for (const d of err.details ?? []) console.error(`  ${d}`);
    if (err.hint) console.error(`  hint: ${err.hint}`);
    if (!(err instanceof Error) || !('code' in err)) console.error(err.stack);
  }
  if (!ok || args.values.keep || args.values.work) {
    log(`e2e-update: kept ${work} (console logs: ${work}/boot-*.console.log)`);
  } else {
    await rm(work, { recursive: true, force: true });
  }
  return ok ? 0 : 1;
}

/** The relay's VmRSS per boot, as report-package.ts's memory unit wrote it on the console once a minute. */
async function rssLines(work: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of (await readdir(work)).filter((n) => /^boot-.*\.console\.log$/.test(n)).sort()) {
    const samples = [...(await readFile(join(work, f), 'utf8')).matchAll(AGENT_RSS)].map((m) => ({ rss: Number(m[2]), anon: Number(m[3]), file: Number(m[4]), up: Number(m[5]) }));
    if (samples.length === 0) continue;
    const last = samples.at(-1)!;
    const mb = (kb: number) => (kb / 1000).toFixed(1);
    out.push(`e2e-update: ${f.replace('.console.log', '')}: the agent relay's VmRSS ${samples.map((s) => mb(s.rss)).join(', ')} MB (last: anon ${mb(last.anon)}, file ${mb(last.file)}, ${last.up} s after boot)`);
  }
  return out;
}

process.exitCode = await main();
