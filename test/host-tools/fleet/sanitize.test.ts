import { describe, expect, it } from 'vitest';
import { cleanText, cleanValue } from '../../../host-tools/fleet/sanitize.js';

describe('cleanText', () => {
  it('removes CSI, OSC (BEL- or ST-ended), other ESC sequences, 8-bit CSI, C0/C1 controls and bidi overrides', () => {
    expect(cleanText('a\u001b[2J\u001b[1;31mb')).toBe('ab');
    expect(cleanText('a\u001b]0;title\u0007b\u001b]8;;http://x\u001b\\c')).toBe('abc');
    expect(cleanText('a\u001bcb\u001b(Bc')).toBe('abc');
    expect(cleanText('a\u009b31mb\u009d0;t\u009cc')).toBe('abc');
    expect(cleanText('a\tb\nc\rd\u0000e\u007ff\u0085g')).toBe('abcdefg');
    expect(cleanText('x\u202ey\u2066z\u200fw\u061c')).toBe('xyzw');
    // Cut-short sequences are dropped to the end, never left for the terminal to finish.
    expect(cleanText('ok\u001b]0;never ended')).toBe('ok');
    expect(cleanText('ok\u001b[')).toBe('ok');
    expect(cleanText('plain text, é and 字 stay')).toBe('plain text, é and 字 stay');
  });

  it('cuts to maxChars with an ellipsis', () => {
    expect(cleanText('abcdef', { maxChars: 4 })).toBe('abc…');
    expect(cleanText('abcd', { maxChars: 4 })).toBe('abcd');
  });
});

describe('cleanValue', () => {
  it('cleans every string of a JSON value, keys included, and keeps the rest', () => {
    expect(cleanValue({ 'k\u001b[0m': ['v\u202e', 1, null, { m: '\u009b1mx' }], b: true })).toEqual({ k: ['v', 1, null, { m: 'x' }], b: true });
  });
});
