/**
 * What went wrong with a file a user named, in words: "the file does not exist" rather than
 * `ENOENT: no such file or directory, open 'x'`. Used in the "cannot read <what> <path>: <reason>"
 * messages of OtaErrors about inputs (docs/conventions.md, "Errors").
 *
 * @example
 * throw new OtaError('ERR_OTA_MANIFEST', `cannot read manifest ${path}: ${fsReason(e)}`);
 */
export function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'the file does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory, not a file';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

/** Whether an error says that a path does not exist (ENOENT, or ENOTDIR for a file below a file). */
export function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
