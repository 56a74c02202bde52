import { pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Broker passwords in Mosquitto 2.0's own format (what `mosquitto_passwd` writes): a
 * `user:$7$<iterations>$<salt>$<hash>` line, PBKDF2-SHA512 with a 12-byte salt and a 64-byte
 * hash, both base64. Made here rather than by running `mosquitto_passwd` once per device, and
 * checked here by `ota serve`'s broker, so both brokers take the same file.
 *
 * @example
 * const line = passwdLine('gw-1', newPassword());   // 'gw-1:$7$101$...$...'
 * checkPasswdHash(line.slice('gw-1:'.length), pw);  // true
 */
export const PBKDF2_ITERATIONS = 101;

/** 24 random bytes as base64url (32 characters): no character a shell or a config file quotes. */
export function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

export function passwdLine(user: string, password: string): string {
  const salt = randomBytes(12);
  const hash = pbkdf2Sync(password, salt, PBKDF2_ITERATIONS, 64, 'sha512');
  return `${user}:$7$${PBKDF2_ITERATIONS}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Whether `password` matches a `$7$` hash; false for any other or malformed hash. */
export function checkPasswdHash(hash: string, password: string): boolean {
  const m = /^\$7\$(\d{1,7})\$([A-Za-z0-9+/=]{1,64})\$([A-Za-z0-9+/=]{1,128})$/.exec(hash);
  if (!m) return false;
  const iterations = Number(m[1]);
  const want = Buffer.from(m[3]!, 'base64');
  if (iterations < 1 || want.length !== 64) return false;
  const got = pbkdf2Sync(password, Buffer.from(m[2]!, 'base64'), iterations, 64, 'sha512');
  return timingSafeEqual(got, want);
}

/** A passwd file's lines as user -> hash; lines that are not `user:hash` are skipped. */
export function parsePasswd(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf(':');
    if (at > 0) users.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return users;
}
