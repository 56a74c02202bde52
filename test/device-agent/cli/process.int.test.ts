import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';

// `ota-agent` as its own process, its output piped into a reader that has already gone (`| true`,
// as `| head` does once it has its lines): the write fails with EPIPE, which must end nothing
// but the output.
const CLI = join(import.meta.dirname, '../../helpers/ota-agent-cli.ts');

describe('ota-agent as a process, piped into a reader that stops early', () => {
  it('drops the rest of its output without an EPIPE stack trace, and exits as the run would', async () => {
    // The reader exits at once; node and tsx take far longer to start, so every write meets a closed pipe.
    const script = `set -o pipefail; ${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(CLI)} man | true`;
    const r = await run('ota-agent man | true', ['bash', '-c', script], { okCodes: [0, 1] });
    expect(r.stderr).not.toMatch(/EPIPE|Error|at /);
    expect(r.code).toBe(0);
  });
});
