import { describe, expect, it } from 'vitest';
import * as api from '../../host-tools/index.js';

// The package's public entry point (package.json "exports") carries every CLI operation.
describe('the host-tools API', () => {
  it('exports lock, check, explain, import, build and diff as functions, and the error class', () => {
    for (const f of ['lock', 'checkLock', 'explainPackage', 'importMultistrap', 'multistrapToManifest', 'build', 'diffImages', 'readLock', 'loadManifest', 'formatError', 'loadBoard', 'makeImage', 'flash', 'writeBmap', 'publish', 'releaseLog'] as const) {
      expect(typeof api[f], f).toBe('function');
    }
    expect(new api.OtaError('ERR_OTA_USAGE', 'x').exitCode).toBe(2);
  });

  it('fails with an OtaError, not a crash, when asked to build nothing', async () => {
    await expect(api.build({ inputs: [], repoPath: '/nonexistent' })).rejects.toMatchObject({ code: 'ERR_OTA_USAGE' });
  });
});
