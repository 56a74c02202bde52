import { describe, expect, it } from 'vitest';
import { ControlSyntaxError, formatStanzas, parseStanzas } from '../../../host-tools/apt/control.js';

function syntaxError(text: string): ControlSyntaxError {
  try {
    parseStanzas(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ControlSyntaxError);
    return e as ControlSyntaxError;
  }
  throw new Error('expected a ControlSyntaxError');
}

describe('parseStanzas', () => {
  it('splits stanzas at blank lines and keeps field order and case', () => {
    const stanzas = parseStanzas('Package: a\nVersion: 1.0\nMD5sum: x\n\n\nPackage: b\nversion: 2\n');
    expect(stanzas.map((s) => [...s])).toEqual([
      [['Package', 'a'], ['Version', '1.0'], ['MD5sum', 'x']],
      [['Package', 'b'], ['version', '2']],
    ]);
    expect(stanzas[1]!.get('Version')).toBeUndefined();
  });

  it('trims the value on the field line, with or without a space after the colon', () => {
    const [s] = parseStanzas('A:x\nB:   y  \nC:\nD: a: b\n');
    expect([...s!]).toEqual([['A', 'x'], ['B', 'y'], ['C', ''], ['D', 'a: b']]);
  });

  it('joins continuation lines with newlines, dropping one leading space and keeping the rest', () => {
    const [s] = parseStanzas('Description: short\n long line\n   indented\n .\n last\nNext: 1\n');
    expect(s!.get('Description')).toBe('short\nlong line\n  indented\n.\nlast');
    expect(s!.get('Next')).toBe('1');
  });

  it('accepts tab-indented continuation lines', () => {
    expect(parseStanzas('Depends: a,\n\tb\n')[0]!.get('Depends')).toBe('a,\nb');
  });

  it('starts a multi-line value on the next line when the field line is empty', () => {
    expect(parseStanzas('Sources:\n one\n two\n')[0]!.get('Sources')).toBe('one\ntwo');
  });

  it('skips # comment lines, also inside a stanza and a multi-line value', () => {
    const stanzas = parseStanzas('# header\nA: 1\n# inside\nB: x\n# between lines\n y\n\n# alone\n\nC: 3\n');
    expect(stanzas.map((s) => Object.fromEntries(s))).toEqual([{ A: '1', B: 'x\ny' }, { C: '3' }]);
  });

  it('treats whitespace-only lines as stanza separators and reads CRLF', () => {
    expect(parseStanzas('A: 1\r\nB: 2\r\n x\r\n  \r\nC: 3\r\n').map((s) => Object.fromEntries(s))).toEqual([{ A: '1', B: '2\nx' }, { C: '3' }]);
  });

  it('returns no stanzas for empty or comment-only text', () => {
    expect(parseStanzas('')).toEqual([]);
    expect(parseStanzas('\n\n# nothing\n')).toEqual([]);
  });

  it('reports a continuation line without a field, with its line number', () => {
    const e = syntaxError(' orphan\n');
    expect(e.line).toBe(1);
    expect(e.reason).toBe('continuation line without a field');
    expect(e.message).toBe('line 1: continuation line without a field');
    // After a blank line the previous field is over.
    expect(syntaxError('# c\nA: 1\n\n continued?\n').line).toBe(4);
  });

  it('reports a line that is not `Field: value`, with its line number counting comments and blanks', () => {
    const e = syntaxError('# comment\nA: 1\n\nB: 2\nnot a field\n');
    expect(e.line).toBe(5);
    expect(e.reason).toContain('not a field');
    expect(syntaxError('A: 1\r\n: no name\r\n').line).toBe(2);
  });
});

describe('formatStanzas', () => {
  it('writes stanzas separated by one blank line, ending with a newline', () => {
    expect(formatStanzas([[['A', '1'], ['B', '2']], new Map([['C', '3']])])).toBe('A: 1\nB: 2\n\nC: 3\n');
    expect(formatStanzas([])).toBe('');
  });

  it('writes multi-line values as continuation lines, an empty line as " ."', () => {
    expect(formatStanzas([[['Description', 'short\nlong\n\nafter']]])).toBe('Description: short\n long\n .\n after\n');
    expect(formatStanzas([[['Sources', '\none\ntwo']]])).toBe('Sources:\n one\n two\n');
  });

  it('round-trips control text byte for byte', () => {
    const text = [
      'Package: hello',
      'Version: 2.10-3',
      'Description: example package',
      ' The first paragraph.',
      ' .',
      '   indented, kept as it is',
      ' .',
      ' The end.',
      'Depends: libc6 (>= 2.34),',
      ' libfoo',
      '',
      'Package: other',
      'Version: 1',
      '',
    ].join('\n');
    expect(formatStanzas(parseStanzas(text))).toBe(text);
  });

  it('round-trips stanzas whose values have no empty lines', () => {
    const stanzas = [new Map([['A', 'one'], ['B', 'x\n y\nz']]), new Map([['C', '']])];
    expect(parseStanzas(formatStanzas(stanzas))).toEqual(stanzas);
  });
});
