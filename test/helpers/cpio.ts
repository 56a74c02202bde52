/**
 * Writes cpio "newc" archives as the kernel reads initramfs images (for tests that make or
 * inspect an initramfs). Entries are files unless `mode` says otherwise; the trailer is added.
 *
 * @example
 * const img = gzipSync(newcArchive([{ name: 'init', mode: 0o100755, data: Buffer.from('#!/bin/sh\n') }]));
 */
export interface CpioEntry {
  name: string;
  /** Full st_mode (file type bits included); default a 0644 regular file. */
  mode?: number;
  data?: Buffer | string;
}

export function newcArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const add = (name: string, mode: number, data: Buffer, ino: number) => {
    const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, Buffer.byteLength(name) + 1, 0];
    const header = `070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`;
    const head = Buffer.concat([Buffer.from(header, 'latin1'), Buffer.from(`${name}\0`, 'utf8')]);
    parts.push(head, pad4(head.length), data, pad4(data.length));
  };
  entries.forEach((e, i) => add(e.name, e.mode ?? 0o100644, Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data ?? ''), i + 1));
  add('TRAILER!!!', 0, Buffer.alloc(0), 0);
  return Buffer.concat(parts);
}
