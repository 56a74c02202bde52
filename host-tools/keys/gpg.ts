import { chmod, mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';

/** A unix socket path holds at most 107 bytes; gpg-agent's longest is S.gpg-agent.browser in GNUPGHOME. */
const SOCKET_PATH_MAX = 107;

function gpgEnv(home: string): NodeJS.ProcessEnv {
  // LC_ALL=C keeps gpg's status output and messages stable for parsing and for errors.
  return { ...process.env, GNUPGHOME: resolve(home), LC_ALL: 'C' };
}

/**
 * Makes an unprotected ed25519 GPG signing key in a new GNUPGHOME `home` (0700), unattended: gpg
 * --batch --quick-gen-key with an empty passphrase through loopback pinentry, no parameter file.
 * Stops the agent it started, so the directory can be moved afterwards.
 *
 * @throws OtaError `ERR_OTA_KEY` when `home` is too long for gpg-agent's socket.
 * @example
 * const fpr = await makeGpgSigningKey('keys/.gpg-new', 'deb-ota release key');
 */
export async function makeGpgSigningKey(home: string, uid: string): Promise<string> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  await chmod(home, 0o700); // gpg refuses to trust a home with "unsafe permissions"
  const env = gpgEnv(home);
  // Where /run/user/$UID is missing (containers, CI) gpg-agent's sockets go in GNUPGHOME itself.
  const { stdout: socket } = await run('find the gpg-agent socket', ['gpgconf', '--list-dirs', 'agent-socket'], { env });
  if (Buffer.byteLength(socket.trim()) + '.browser'.length > SOCKET_PATH_MAX) {
    throw new OtaError('ERR_OTA_KEY', `the GPG home ${resolve(home)} is too deep for gpg-agent's socket (${socket.trim()})`, {
      hint: `gpg needs socket paths under ${SOCKET_PATH_MAX + 1} bytes: choose a shorter key directory`,
    });
  }
  try {
    const { stdout } = await run('make the GPG signing key', [
      'gpg', '--batch', '--no-tty', '--status-fd', '1', '--pinentry-mode', 'loopback', '--passphrase', '',
      '--quick-gen-key', uid, 'ed25519', 'sign', 'never',
    ], { env });
    const fingerprint = /^\[GNUPG:\] KEY_CREATED \S+ ([0-9A-F]{40})$/m.exec(stdout)?.[1];
    if (fingerprint === undefined) throw new OtaError('ERR_OTA_KEY', 'gpg made no key: it reported no KEY_CREATED line', { details: stdout.trim().split('\n') });
    return fingerprint;
  } finally {
    await stopGpgAgent(home);
  }
}

/** The binary public keyring of `fingerprint` (what `ostree remote gpg-import` reads). */
export async function exportGpgPublicKey(home: string, fingerprint: string): Promise<Buffer> {
  const { stdout } = await run('export the GPG public key', ['gpg', '--batch', '--no-tty', '--export', fingerprint], { env: gpgEnv(home), binary: true });
  if (stdout.length === 0) throw new OtaError('ERR_OTA_KEY', `gpg exported nothing for ${fingerprint} from ${home}`);
  return stdout;
}

/** The fingerprint and user id of each key in a GNUPGHOME (public keys; no agent needed). */
export async function listGpgKeys(home: string): Promise<{ fingerprint: string; uid: string | null }[]> {
  const { stdout } = await run('list the GPG keys', ['gpg', '--batch', '--no-tty', '--with-colons', '--fingerprint', '--list-keys'], { env: gpgEnv(home) });
  const keys: { fingerprint: string; uid: string | null }[] = [];
  let inPrimary = false;
  for (const line of stdout.split('\n')) {
    const f = line.split(':');
    if (f[0] === 'pub') inPrimary = true;
    else if (f[0] === 'sub') inPrimary = false;
    else if (f[0] === 'fpr' && inPrimary && /^[0-9A-F]{40}$/.test(f[9] ?? '')) keys.push({ fingerprint: f[9]!, uid: null });
    else if (f[0] === 'uid' && keys.length > 0 && keys[keys.length - 1]!.uid === null) keys[keys.length - 1]!.uid = f[9] ?? null;
  }
  return keys;
}

/** Stops the agent of `home`, if any (tidiness: agents also exit once their home is gone). */
export async function stopGpgAgent(home: string): Promise<void> {
  await run('stop gpg-agent', ['gpgconf', '--kill', 'gpg-agent'], { env: gpgEnv(home), okCodes: [0, 1, 2] });
}
