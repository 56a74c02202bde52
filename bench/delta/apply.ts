/**
 * A static delta applied offline in a process of its own, for bench/delta: its peak memory (max
 * RSS) is what a device needs to apply it. Usage: bench/delta/apply.ts DEVICE_REPO SUPERBLOCK; prints
 * one JSON line.
 */
import { applyDeltaOffline, Repo } from '../../node-ostree/index.js';

const [repoPath, superblock] = process.argv.slice(2);
if (!repoPath || !superblock) throw new Error('usage: bench/delta/apply.ts DEVICE_REPO SUPERBLOCK');
const repo = await Repo.open(repoPath);
const baseRssBytes = process.resourceUsage().maxRSS * 1024;
const t0 = process.hrtime.bigint();
await applyDeltaOffline(repo, superblock);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const maxRssBytes = process.resourceUsage().maxRSS * 1024;
repo.close();
console.log(JSON.stringify({ seconds, baseRssBytes, maxRssBytes }));
