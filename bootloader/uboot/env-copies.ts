/**
 * `ota.env` is kept twice on the boot partition, `ota.env` and its backup `ota.bak`, each written
 * whole, one after the other, by the boot script (fatwrite) and by Linux (atomic replace): a
 * power cut during one write leaves the other copy as it was. Without it, a torn `ota.env` while
 * an update is pending reads as "nothing pending" to U-Boot, and a broken update would then be
 * booted forever instead of being counted and rolled back.
 *
 * A copy is whole when it has `upgrade_available` as 0 or 1: both writers always write all four
 * variables sorted by name, so `upgrade_available` comes last and a cut-off copy loses it first.
 * Readers take the first whole copy, primary first; if neither is whole, the primary as it is
 * (what is missing takes its default), which is what a single file always meant.
 *
 * @example
 * backupEnvPath('ota.env');   // 'ota.bak'
 * isWholeCopy(new Map([['bootcount', '1'], ['upgrade_available', '1']]));   // true
 */

/** The backup's name: the primary's with its extension replaced by `.bak` (a short name FAT writers handle everywhere). */
export function backupEnvPath(path: string): string {
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  return dot > slash + 1 ? `${path.slice(0, dot)}.bak` : `${path}.bak`;
}

/** Whether a copy holds the whole state (see above); other variables do not matter. */
export function isWholeCopy(vars: ReadonlyMap<string, string>): boolean {
  const u = vars.get('upgrade_available');
  return u === '0' || u === '1';
}
