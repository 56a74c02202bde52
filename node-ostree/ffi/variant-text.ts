import { C, type Ptr } from './libs.js';
import { check, errorOut } from './call.js';

/**
 * Builds a GVariant from GLib's text format (`{'refs': <['a', 'b']>, 'flags': <0>}`), for the
 * option dictionaries libostree takes. Values are quoted here, so callers pass plain JS values.
 *
 * @example
 * const opts = variantFromText(`{'refs': <${gvText.strings(['os/v2'])}>}`); // remember to unref
 */
export function variantFromText(text: string): Ptr {
  const err = errorOut();
  const v = C.g_variant_parse(null, text, null, null, err);
  check(v, err, `building GVariant options from "${text.slice(0, 80)}"`);
  return C.g_variant_ref_sink(v);
}

export const gvText = {
  string: (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`,
  strings: (xs: string[]) => (xs.length === 0 ? '@as []' : `[${xs.map(gvText.string).join(', ')}]`),
  bool: (b: boolean) => (b ? 'true' : 'false'),
  uint32: (n: number) => `uint32 ${Math.trunc(n)}`,
  /** a{sv} from entries already rendered as text values. */
  dict: (entries: Record<string, string>) => `@a{sv} {${Object.entries(entries).map(([k, v]) => `${gvText.string(k)}: <${v}>`).join(', ')}}`,
};
