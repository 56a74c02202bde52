import { describe, expect, it } from 'vitest';
import { healthSummary, rollbackReason, summarize, type CheckResult } from '../../../device-agent/health/report.js';

const check = (name: string, level: CheckResult['level'], status: CheckResult['status'], detail = 'ok'): CheckResult => ({ name, kind: 'script', level, status, detail, durationMs: 1 });

describe('health report', () => {
  it('is ok only when every required check passed and the deadline did not pass; wanted checks only warn', () => {
    const passing = [check('a', 'required', 'passed'), check('w', 'wanted', 'failed', 'exited with 1')];
    expect(summarize(passing, false)).toMatchObject({ ok: true, required: [{ name: 'a' }], wanted: [{ name: 'w' }] });
    expect(rollbackReason(summarize(passing, false))).toBeNull();
    expect(rollbackReason(summarize(passing, true))).toBe('deadline');
    expect(rollbackReason(summarize([check('a', 'required', 'failed', 'exited with 2')], false))).toBe('unhealthy');
    expect(summarize([], false).ok).toBe(true);
  });

  it('sums a run up in one line that names every check that did not pass', () => {
    const report = summarize(
      [
        check('unit:app.service', 'required', 'failed', 'failed'),
        check('/h/required.d/10-ok', 'required', 'passed'),
        check('/h/required.d/20-hang', 'required', 'timedOut', 'killed at the health deadline'),
        check('/h/required.d/30-late', 'required', 'notRun', 'the health deadline passed before it ran'),
        check('memory', 'wanted', 'failed', '10 MiB available, at least 16 MiB asked'),
      ],
      true,
    );
    expect(healthSummary(report)).toBe(
      '1 of 4 required checks passed; the deadline passed; failed: unit:app.service (failed), /h/required.d/20-hang (timedOut: killed at the health deadline), ' +
        '/h/required.d/30-late (notRun: the health deadline passed before it ran); warnings: memory (10 MiB available, at least 16 MiB asked)',
    );
  });
});
