// One guest connection of qemu's user network, relayed to a host port: qemu runs this for each
// connection the guest opens to a guestfwd address (`guestfwd=tcp:ADDR:PORT-cmd:node guest-relay.mjs
// HOST PORT COUNTS`), with the guest's socket as stdin, stdout and stderr, so nothing may be
// written to stderr. A `-tcp:HOST:PORT` chardev instead would connect once when qemu starts and
// carry every guest connection over that one stream. When the connection ends, one line
// `<bytes from the guest> <bytes to the guest>` is appended to COUNTS: what the device sent and
// downloaded, counted at the wire (update-device.ts).
import { appendFileSync } from 'node:fs';
import { connect } from 'node:net';

const [host, port, counts] = process.argv.slice(2);
let up = 0;
let down = 0;
let ended = false;
const end = () => {
  if (ended) return;
  ended = true;
  try {
    if (counts) appendFileSync(counts, `${up} ${down}\n`);
  } finally {
    process.exit(0);
  }
};
const upstream = connect(Number(port), host);
process.stdin.on('data', (b) => (up += b.length));
upstream.on('data', (b) => (down += b.length));
process.stdin.pipe(upstream);
upstream.pipe(process.stdout);
process.stdin.on('error', end);
process.stdout.on('error', end);
upstream.on('error', end);
// the last bytes written out before the count and the exit
upstream.on('close', () => process.stdout.end(end));
process.stdin.on('close', () => upstream.end());
