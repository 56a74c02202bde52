/**
 * The relay from the TypeScript sources as its own process (bundled once per test file by
 * test/helpers/bundled-child.ts): what bin/ota-agent.js runs for `daemon` from dist/.
 */
import { runRelay } from '../../../device-agent/daemon/main.js';

process.exit(await runRelay(process.argv.slice(2)));
