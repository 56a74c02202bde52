/**
 * The `ota` CLI from the TypeScript sources, for tests that need it as a separate process (to
 * kill it, say): `node --import tsx test/helpers/ota-cli.ts build ...`.
 */
import { runAsProcess } from '../../host-tools/cli/process.js';

await runAsProcess();
