/**
 * One static delta generated in a process of its own, for bench/delta: so its time and its peak
 * memory (max RSS, a process-wide high-water mark) belong to that generation alone.
 * Usage: bench/delta/generate.ts REPO FROM TO default|tuned; prints one JSON line.
 * `default` is libostree with no parameters; `tuned` is what `ota publish` does
 * (host-tools/publish/delta-tuning.ts).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { generateDelta, Repo } from '../../node-ostree/index.js';
import { deltaDir, generateReleaseDelta, measureDelta } from '../../host-tools/publish/delta.js';

const [repoPath, from, to, mode] = process.argv.slice(2);
if (!repoPath || !from || !to || (mode !== 'default' && mode !== 'tuned')) {
  throw new Error('usage: bench/delta/generate.ts REPO FROM TO default|tuned');
}
const repo = await Repo.open(repoPath);
await rm(join(repo.path, deltaDir(from, to)), { recursive: true, force: true });
const baseRssBytes = process.resourceUsage().maxRSS * 1024;
const t0 = process.hrtime.bigint();
let measured: { bytes: number; parts: number; fallbackBytes: number };
if (mode === 'tuned') {
  measured = await generateReleaseDelta(repo, { from, to });
} else {
  await generateDelta(repo, { from, to });
  measured = await measureDelta(repo, from, to);
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const maxRssBytes = process.resourceUsage().maxRSS * 1024;
repo.close();
console.log(JSON.stringify({ bytes: measured.bytes, parts: measured.parts, fallbackBytes: measured.fallbackBytes, seconds, baseRssBytes, maxRssBytes }));
