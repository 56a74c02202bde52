/**
 * Who may see the dashboard (docs/dashboard.md, "Security model"): whoever knows the login
 * secret, a random token printed at start or the first line of a password file. A login gives
 * a random session id in an HttpOnly cookie; sessions live in memory and end with the process.
 *
 * @example
 * const auth = await newAuth({});            // a random token
 * const id = auth.login(auth.secret);        // a session id, or null
 * auth.valid(id);                            // true
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { OtaError } from '../../common/errors.js';

export const SESSION_SECONDS = 12 * 3600;

export interface Auth {
  /** The secret to log in with; printed only when it was generated. */
  secret: string;
  generated: boolean;
  login: (given: string) => string | null;
  valid: (session: string | null) => boolean;
  logout: (session: string | null) => void;
}

export async function newAuth(o: { passwordFile?: string; now?: () => number }): Promise<Auth> {
  const secret = o.passwordFile === undefined ? randomBytes(24).toString('base64url') : await readPassword(o.passwordFile);
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  const want = digest(secret);
  const now = o.now ?? Date.now;
  const sessions = new Map<string, number>();
  return {
    secret,
    generated: o.passwordFile === undefined,
    login: (given) => {
      // Digests of equal length, so the comparison's time says nothing of the secret.
      if (!timingSafeEqual(digest(given), want)) return null;
      const id = randomBytes(32).toString('base64url');
      sessions.set(id, now() + SESSION_SECONDS * 1000);
      return id;
    },
    valid: (session) => {
      if (session === null) return false;
      const until = sessions.get(session);
      if (until === undefined) return false;
      if (until > now()) return true;
      sessions.delete(session);
      return false;
    },
    logout: (session) => {
      if (session !== null) sessions.delete(session);
    },
  };
}

async function readPassword(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new OtaError('ERR_OTA_USAGE', `cannot read --password-file ${file}: ${(e as Error).message}`, { hint: 'give a file whose first line is the password', cause: e });
  }
  const first = text.split('\n')[0]!.replace(/\r$/, '');
  if (first.length < 12) throw new OtaError('ERR_OTA_USAGE', `--password-file ${file}: the password on its first line is shorter than 12 characters`, { hint: 'use a longer password, or leave out --password-file to get a random login token' });
  return first;
}
