import { describe, expect, it } from 'vitest';
import { formatArgv, fullArgv, shellQuote, shortArgv } from '../../common/argv.js';

describe('argv in messages', () => {
  it('quotes only what a shell would split or expand', () => {
    expect(shellQuote('/usr/bin/gpgv')).toBe('/usr/bin/gpgv');
    expect(shellQuote('a b')).toBe(`'a b'`);
    expect(shellQuote(`it's`)).toBe(`'it'\\''s'`);
    expect(shellQuote('')).toBe(`''`);
  });

  it('keeps every argument in full for pasting, newlines included', () => {
    expect(fullArgv(['sh', '-c', 'echo a\necho b'])).toBe(`sh -c 'echo a\necho b'`);
  });

  it('cuts a multi-line or long argument to one line for -v', () => {
    expect(formatArgv(['sh', '-c', 'set -e\nmount x', 'sh'])).toBe(`sh -c 'set -e'… sh`);
    expect(formatArgv(['echo', 'x'.repeat(100)], 10)).toBe(`echo ${'x'.repeat(10)}…`);
  });

  it('shows the program and its first arguments, then an ellipsis', () => {
    expect(shortArgv(['unshare', '--mount', '--net', '--pid', '--fork', 'sh'])).toBe('unshare --mount --net --pid …');
    expect(shortArgv(['gpgv', '--keyring', 'k'])).toBe('gpgv --keyring k');
  });
});
