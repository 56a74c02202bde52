import { describe, expect, it } from 'vitest';
import {
  armForUpgrade,
  checkBootState,
  clearRollback,
  initialBootState,
  markGood,
  MAX_BOOTCOUNT,
  MAX_BOOTLIMIT,
  nextBoot,
  primaryOf,
  requestRollback,
  withPrimary,
  type BootEntry,
  type BootState,
} from '../../bootloader/state.js';
import { OtaError } from '../../common/errors.js';
import { rejectionOf } from '../helpers/errors.js';

const fresh = initialBootState();

/** Boots `n` times, as the bootloader would, returning each decision. */
function bootTimes(s: BootState, n: number, hasSecondEntry = true) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const d = nextBoot(s, hasSecondEntry);
    out.push(d);
    s = d.state;
  }
  return out;
}

describe('transitions (meta-updater semantics)', () => {
  it('arms an upgrade as bootcount=0 upgrade_available=1 rollback=0, keeping bootlimit', () => {
    expect(armForUpgrade({ bootcount: 4, upgradeAvailable: false, rollback: true, bootlimit: 5 })).toEqual({ bootcount: 0, upgradeAvailable: true, rollback: false, bootlimit: 5 });
  });

  it('marks a good boot as bootcount=0 upgrade_available=0', () => {
    expect(markGood({ bootcount: 2, upgradeAvailable: true, rollback: false, bootlimit: 3 })).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
  });

  it('requests and clears a rollback', () => {
    const armed = armForUpgrade(fresh);
    expect(requestRollback(armed)).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: true, bootlimit: 3 });
    expect(clearRollback({ bootcount: 4, upgradeAvailable: false, rollback: true, bootlimit: 3 })).toEqual(fresh);
  });

  it('never mutates its input', () => {
    const s = Object.freeze(armForUpgrade(fresh));
    for (const f of [armForUpgrade, markGood, requestRollback, clearRollback]) f(s);
    expect(() => nextBoot(s)).not.toThrow();
  });
});

describe('nextBoot, the boot scripts as data', () => {
  it('counts 1, 2, 3 on entry 0, then falls back to entry 1 with rollback=1 upgrade_available=0', () => {
    const runs = bootTimes(armForUpgrade(fresh), 5);
    expect(runs.map((r) => [r.entry, r.state.bootcount, r.state.upgradeAvailable, r.state.rollback, r.saved])).toEqual([
      [0, 1, true, false, true],
      [0, 2, true, false, true],
      [0, 3, true, false, true],
      [1, 4, false, true, true],
      [1, 4, false, true, false], // rollback is sticky and nothing counts any more
    ]);
  });

  it('never counts or saves while no upgrade is pending (ordinary power cycles)', () => {
    for (const d of bootTimes(fresh, 20)) expect(d).toEqual({ entry: 0, state: fresh, saved: false });
  });

  it('gives a bootlimit of n exactly n tries', () => {
    for (let limit = 1; limit <= MAX_BOOTLIMIT; limit++) {
      const runs = bootTimes(armForUpgrade(initialBootState(limit)), limit + 1);
      expect(runs.filter((r) => r.entry === 0)).toHaveLength(limit);
      expect(runs.at(-1)?.state.rollback).toBe(true);
    }
  });

  it('saturates the counter at MAX_BOOTCOUNT, which is past every bootlimit', () => {
    expect(MAX_BOOTCOUNT).toBeGreaterThan(MAX_BOOTLIMIT);
    const d = nextBoot({ bootcount: MAX_BOOTCOUNT, upgradeAvailable: true, rollback: false, bootlimit: MAX_BOOTLIMIT });
    expect(d.state).toMatchObject({ bootcount: MAX_BOOTCOUNT, rollback: true, upgradeAvailable: false });
  });

  it('boots entry 0 when there is no second entry, but still records the rollback', () => {
    const runs = bootTimes(armForUpgrade(initialBootState(1)), 2, false);
    expect(runs.map((r) => r.entry)).toEqual([0, 0]);
    expect(runs[1]?.state.rollback).toBe(true);
  });
});

describe('primary', () => {
  const states: BootState[] = [];
  for (let bootcount = 0; bootcount <= MAX_BOOTCOUNT; bootcount++) {
    for (const upgradeAvailable of [false, true]) for (const rollback of [false, true]) for (const bootlimit of [1, 3, MAX_BOOTLIMIT]) states.push({ bootcount, upgradeAvailable, rollback, bootlimit });
  }

  it('is the entry the next boot picks: 1 when rolled back or when the next count runs out', () => {
    expect(primaryOf(fresh)).toBe(0);
    expect(primaryOf({ ...fresh, rollback: true })).toBe(1);
    expect(primaryOf({ bootcount: 2, upgradeAvailable: true, rollback: false, bootlimit: 3 })).toBe(0);
    expect(primaryOf({ bootcount: 3, upgradeAvailable: true, rollback: false, bootlimit: 3 })).toBe(1);
  });

  it('reads back what setPrimary wrote, from every state', () => {
    for (const s of states) {
      for (const entry of [0, 1] as BootEntry[]) {
        expect(primaryOf(withPrimary(s, entry)), JSON.stringify({ s, entry })).toBe(entry);
      }
    }
  });

  it('gives a pending upgrade its full bootlimit again when entry 0 is made primary', () => {
    const s = withPrimary({ bootcount: 3, upgradeAvailable: true, rollback: false, bootlimit: 3 }, 0);
    expect(bootTimes(s, 4).map((r) => r.entry)).toEqual([0, 0, 0, 1]);
  });
});

describe('checkBootState', () => {
  it('refuses values the boot scripts cannot count with, saying which and where', async () => {
    const cases: [Partial<BootState>, string][] = [
      [{ bootlimit: 0 }, 'bootlimit'],
      [{ bootlimit: MAX_BOOTLIMIT + 1 }, 'bootlimit'],
      [{ bootlimit: 2.5 }, 'bootlimit'],
      [{ bootcount: -1 }, 'bootcount'],
      [{ bootcount: MAX_BOOTCOUNT + 1 }, 'bootcount'],
    ];
    for (const [change, name] of cases) {
      const e = await rejectionOf(OtaError, () => checkBootState({ ...fresh, ...change }, 'ota.env'));
      expect(e.code).toBe('ERR_OTA_BOOTLOADER');
      expect(e.message).toContain(name);
      expect(e.message).toContain('ota.env');
    }
  });
});
