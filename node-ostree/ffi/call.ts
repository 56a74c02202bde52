import { OstreeError } from '../errors.js';
import { C, GError, koffi, type Ptr } from './libs.js';

/**
 * Calling libostree: every function that reports through `GError **` takes an `ErrorOut`
 * (a one-element array koffi fills in); `check` turns a failure into an OstreeError and frees
 * the GError. `callAsync` runs the call on a koffi worker thread.
 */
export type ErrorOut = [Ptr];

export function errorOut(): ErrorOut {
  return [null];
}

/** Throws the GError in `err` (freeing it) when `ok` says the call failed. */
export function check(ok: unknown, err: ErrorOut, operation: string, path?: string): void {
  if (err[0]) throw takeError(err, operation, path);
  if (!ok) throw new OstreeError(operation, path, 'unknown', 0, 'failed without an error, this is a bug in libostree or its binding');
}

export function takeError(err: ErrorOut, operation: string, path?: string): OstreeError {
  const e = koffi.decode(err[0], GError) as { domain: number; code: number; message: string };
  const domain = C.g_quark_to_string(e.domain) as string;
  const error = new OstreeError(operation, path, domain, e.code, e.message);
  C.g_error_free(err[0]);
  err[0] = null;
  return error;
}

type AsyncFn = { async: (...args: unknown[]) => void };

/** Runs a blocking C call on a worker thread; resolves with its return value. */
export function callAsync<T>(fn: unknown, ...args: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => {
    (fn as AsyncFn).async(...args, (e: unknown, res: T) => (e ? reject(e) : resolve(res)));
  });
}

/** Reads a g_malloc'd C string and frees it. */
export function takeString(ptr: Ptr): string | null {
  if (!ptr) return null;
  const s = koffi.decode(ptr, 'char', -1) as string;
  C.g_free(ptr);
  return s;
}

/** Copies the serialized bytes of a GVariant and releases it. */
export function takeVariantBytes(variant: Ptr): Buffer {
  try {
    const size = Number(C.g_variant_get_size(variant));
    if (size === 0) return Buffer.alloc(0);
    const data = C.g_variant_get_data(variant);
    // Copy out: the view points into the GVariant, which is released below.
    return Buffer.from(new Uint8Array(koffi.view(data, size)));
  } finally {
    C.g_variant_unref(variant);
  }
}

/** A floating-free GVariant of `type` holding a copy of `bytes` (normal-form serialization). */
export function variantFromBytes(type: string, bytes: Buffer): Ptr {
  const t = C.g_variant_type_new(type);
  const gbytes = C.g_bytes_new(bytes, bytes.length);
  try {
    return C.g_variant_ref_sink(C.g_variant_new_from_bytes(t, gbytes, 0));
  } finally {
    C.g_bytes_unref(gbytes);
    C.g_variant_type_free(t);
  }
}

/** Releases GObjects that may be null, in order. */
export function unref(...objects: Ptr[]): void {
  for (const o of objects) if (o) C.g_object_unref(o);
}

/**
 * Calls `fn` with the keys of a GHashTable, then frees the key array and releases the table
 * (the caller hands its reference over). The keys are only valid inside `fn`.
 */
export function withHashTableKeys<T>(table: Ptr, fn: (keys: Ptr[]) => T): T {
  try {
    const len = [0];
    const keys = C.g_hash_table_get_keys_as_array(table, len);
    try {
      return fn(len[0] ? (koffi.decode(keys, koffi.array('void *', len[0])) as Ptr[]) : []);
    } finally {
      C.g_free(keys);
    }
  } finally {
    C.g_hash_table_unref(table);
  }
}
