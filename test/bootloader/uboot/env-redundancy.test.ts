import { describe, expect, it } from 'vitest';
import { pickCurrentCopy, planUbootEnvWrite } from '../../../bootloader/uboot/env-redundancy.js';

const ok = (counter: number) => ({ crcOk: true, counter });
const bad = (counter: number) => ({ crcOk: false, counter });

describe('pickCurrentCopy', () => {
  it('takes the copy with a good CRC whatever the counters say', () => {
    expect(pickCurrentCopy([bad(200), ok(1)])).toEqual({ index: 1, valid: true });
    expect(pickCurrentCopy([ok(1), bad(200)])).toEqual({ index: 0, valid: true });
  });

  it('takes the higher counter of two good copies, comparing bytes as unsigned', () => {
    expect(pickCurrentCopy([ok(1), ok(2)]).index).toBe(1);
    expect(pickCurrentCopy([ok(2), ok(1)]).index).toBe(0);
    expect(pickCurrentCopy([ok(0x80), ok(0x7f)]).index).toBe(0);
    expect(pickCurrentCopy([ok(0x7f), ok(0x80)]).index).toBe(1);
  });

  it('treats 0 after 255 as newer (the counter wrapped), in either slot', () => {
    expect(pickCurrentCopy([ok(0xff), ok(0)]).index).toBe(1);
    expect(pickCurrentCopy([ok(0), ok(0xff)]).index).toBe(0);
    // Only the exact 255/0 pair is a wrap: 254 vs 0 is an old copy against a newer one.
    expect(pickCurrentCopy([ok(0xfe), ok(0)]).index).toBe(0);
  });

  it('takes the first copy when counters are equal', () => {
    expect(pickCurrentCopy([ok(5), ok(5)]).index).toBe(0);
  });

  it('reports no valid copy when both CRCs are bad, and a single copy by its CRC', () => {
    expect(pickCurrentCopy([bad(1), bad(2)])).toEqual({ index: 0, valid: false });
    expect(pickCurrentCopy([ok(0)])).toEqual({ index: 0, valid: true });
    expect(pickCurrentCopy([bad(0)])).toEqual({ index: 0, valid: false });
  });
});

describe('planUbootEnvWrite', () => {
  it('writes the copy that is not current, with its counter plus one', () => {
    const copies = [ok(7), ok(8)];
    expect(planUbootEnvWrite(pickCurrentCopy(copies), copies)).toEqual({ copy: 0, counter: 9 });
  });

  it('wraps the counter from 255 to 0, which then wins the next pick', () => {
    const copies = [ok(0xff), ok(0xfe)];
    const plan = planUbootEnvWrite(pickCurrentCopy(copies), copies);
    expect(plan).toEqual({ copy: 1, counter: 0 });
    expect(pickCurrentCopy([ok(0xff), ok(plan.counter ?? -1)]).index).toBe(plan.copy);
  });

  it('with both copies bad, writes copy 1 with copy 0 flags byte plus one (as fw_setenv does)', () => {
    const copies = [bad(4), bad(9)];
    expect(planUbootEnvWrite(pickCurrentCopy(copies), copies)).toEqual({ copy: 1, counter: 5 });
  });

  it('always rewrites a single copy, without a counter', () => {
    expect(planUbootEnvWrite(pickCurrentCopy([ok(0)]), [ok(0)])).toEqual({ copy: 0, counter: undefined });
  });
});
