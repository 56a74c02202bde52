/**
 * Byte counts for people. Every size the tools print is 1024-based and says so (KiB, MiB, GiB, as
 * `--size 4GiB` and board.yaml's sizes are written); `kB`/`MB` would mean powers of 1000.
 *
 * @example
 * formatBytes(1536); // '1.5 KiB'
 * formatBytes(3 * 1024 ** 3); // '3.0 GiB'
 */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(1)} ${units[i]}`;
}
