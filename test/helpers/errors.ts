import { OtaError } from '../../common/errors.js';

/** Awaits a promise that must reject with an OtaError and returns that error (fails otherwise). */
export async function otaRejection(p: Promise<unknown>): Promise<OtaError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OtaError) return e;
    throw new Error(`expected an OtaError, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected a rejection, but the promise resolved');
}
