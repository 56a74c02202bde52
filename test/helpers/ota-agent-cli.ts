/**
 * The `ota-agent` CLI from the TypeScript sources, for tests that need it as a separate process:
 * `node --import tsx test/helpers/ota-agent-cli.ts status --json`.
 */
import { runAsProcess } from '../../device-agent/cli/process.js';

await runAsProcess();
