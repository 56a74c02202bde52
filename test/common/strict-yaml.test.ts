import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { keysAt, parseStrictYaml } from '../../common/strict-yaml.js';
import { OtaError } from '../../common/errors.js';

const schema = z.strictObject({
  name: z.string(),
  disk: z.strictObject({ partitions: z.array(z.strictObject({ label: z.string(), size: z.string().optional() })).default([]) }).optional(),
});

describe('parseStrictYaml', () => {
  it('reads the keys allowed at a path from the schema, through optional, default and arrays', () => {
    expect(keysAt(schema, [])).toEqual(['name', 'disk']);
    expect(keysAt(schema, ['disk', 'partitions', 0])).toEqual(['label', 'size']);
  });

  it('names the file, path and line of an unknown key and suggests the near one', () => {
    let e: unknown;
    try {
      parseStrictYaml('name: x\ndisk:\n  partitions:\n    - label: boot\n      siez: 1G\n', 'board.yaml', schema, { code: 'ERR_OTA_MANIFEST', hint: 'h' });
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(OtaError);
    expect((e as OtaError).message).toBe('unknown key "siez" at disk.partitions[0] (board.yaml:5); did you mean "size"?');
  });

  it('refuses a file whose aliases expand without bound as bad input, not a crash', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const text = `name: x\n${levels.join('\n')}\n`;
    const loose = z.object({ name: z.string() }).loose();
    let e: unknown;
    try {
      parseStrictYaml(text, 'image.yaml', loose, { code: 'ERR_OTA_MANIFEST', hint: 'h' });
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(OtaError);
    expect(e).toMatchObject({ code: 'ERR_OTA_MANIFEST', exitCode: 2 });
    expect((e as OtaError).message).toMatch(/^image\.yaml is not usable YAML: .*alias/i);
  });
});
