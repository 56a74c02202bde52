import { OtaError } from '../../common/errors.js';

/**
 * Awaits a promise (or calls a function) that must fail with an error of class `cls`, and
 * returns that error; fails the test if it succeeds or fails with something else.
 */
export async function rejectionOf<E extends Error>(cls: abstract new (...args: never[]) => E, p: Promise<unknown> | (() => unknown)): Promise<E> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof cls) return e;
    throw new Error(`expected a ${cls.name}, got ${String(e)}`, { cause: e });
  }
  throw new Error(`expected a ${cls.name}, but it succeeded`);
}

/** `rejectionOf(OtaError, p)`. */
export function otaRejection(p: Promise<unknown>): Promise<OtaError> {
  return rejectionOf(OtaError, p);
}
