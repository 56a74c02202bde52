// A stand-in for `ota-agent worker <job>` and `ota-agent config --json` at the process boundary: the
// relay's tests point OTA_AGENT_SELF at it. It speaks the worker protocol
// (docs/agent.md, "The daemon and its workers") without deciding anything, and records each job it was given in
// <root>/stand-in/jobs.log. With <root>/stand-in/hold present, a job waits until SIGTERM.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const root = args[args.indexOf('--root') + 1];
const dir = join(root, 'stand-in');
const print = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

if (args[0] === 'config') {
  process.stdout.write(readFileSync(join(dir, 'config.json'), 'utf8'));
  process.exit(0);
}

const job = args[1];
const input = await new Promise((resolve) => {
  const chunks = [];
  process.stdin.on('data', (c) => chunks.push(c));
  process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
});
const { config } = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
const device = config.deviceId;
const time = () => new Date().toISOString();
const status = (phase) => ({ apiVersion: 'deb-ota/v1', kind: 'Status', device, phase, updateId: null, progress: null, time: time() });
const event = (type, reason) => ({ apiVersion: 'deb-ota/v1', kind: 'Event', device, updateId: null, type, reason, time: time() });
// Listening for SIGTERM before the job is on record, so a test that saw it can stop it at once.
const terminated = existsSync(join(dir, 'hold')) ? new Promise((resolve) => process.once('SIGTERM', resolve)) : null;
appendFileSync(join(dir, 'jobs.log'), `${JSON.stringify({ job, args: args.slice(2), input })}\n`);

if (terminated !== null) {
  print({ type: 'status', doc: status('downloading') });
  setInterval(() => {}, 60_000); // a pending signal alone keeps no process alive
  await terminated;
  appendFileSync(join(dir, 'jobs.log'), `${JSON.stringify({ job, terminated: true })}\n`);
  process.exit(0);
}
switch (job) {
  case 'tick':
    print({ type: 'status', doc: status('idle') });
    break;
  case 'report':
    print({ type: 'status', doc: status('idle') });
    print({ type: 'inventory', doc: { apiVersion: 'deb-ota/v1', kind: 'Inventory', device, packages: [] } });
    break;
  case 'release':
    print({ type: 'event', doc: event('checking', 'stand-in release worker') });
    break;
  case 'command':
    print({ type: 'event', doc: event('command-received', 'stand-in command worker') });
    print({ type: 'event', doc: event('command-completed', 'stand-in command worker') });
    break;
  default:
    process.exit(2);
}
// <root>/stand-in/wake-ms: the nextWakeMs a tick answers (default null: only on a trigger).
const wake = job === 'tick' && existsSync(join(dir, 'wake-ms')) ? Number(readFileSync(join(dir, 'wake-ms'), 'utf8')) : null;
print({ type: 'done', nextWakeMs: wake, polled: args.includes('--poll') });
