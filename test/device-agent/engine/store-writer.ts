/**
 * A separate process that saves state records, for the store's crash tests (it is killed with SIGKILL, or
 * traced with strace): `node --import tsx store-writer.ts DIR once|loop`. Each record is a fresh update
 * whose id counts the saves and whose release JWS is large, so a torn write could not go unnoticed.
 */
import { beginUpdate, initialRecord } from '../../../device-agent/engine/record.js';
import { StateStore } from '../../../device-agent/engine/store.js';

const [dir, mode] = process.argv.slice(2);
if (!dir || (mode !== 'once' && mode !== 'loop')) throw new Error('usage: store-writer.ts DIR once|loop');
const store = new StateStore({ dir });
const jws = `${'e'.repeat(200_000)}.${'p'.repeat(100_000)}.${'s'.repeat(86)}`;
for (let n = 1; ; n++) {
  await store.save(beginUpdate(initialRecord(), { id: `u${n}`, at: new Date(), releaseJws: jws }), new Date());
  process.stdout.write(`saved ${n}\n`);
  if (mode === 'once') break;
}
