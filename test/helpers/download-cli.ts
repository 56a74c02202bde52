/**
 * `downloadFile` as a separate process, for tests of a cache shared by several processes:
 * `node --import tsx test/helpers/download-cli.ts URL DEST SIZE SHA256` prints the result (or the
 * error's code and message) as JSON on stdout; the exit code is 0 either way.
 */
import { downloadFile } from '../../common/http.js';

const [url, dest, size, sha256] = process.argv.slice(2);
try {
  const r = await downloadFile(url!, dest!, { expectedSize: Number(size), expectedSha256: sha256!, backoffMs: 10 });
  process.stdout.write(JSON.stringify(r));
} catch (e) {
  const err = e as Error & { code?: string };
  process.stdout.write(JSON.stringify({ status: 'error', name: err.name, code: err.code, message: err.message }));
}
