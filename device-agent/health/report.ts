/**
 * What a health run found, as data (docs/agent.md, "Health checks"): the engine decides from
 * `ok`, the status document and the events show every check. All checks are reported, not only
 * the first failure.
 *
 * @example
 * if (!report.ok) return report.deadlineHit ? 'deadline' : 'required-failed';
 * const warnings = report.wanted.filter((c) => c.status !== 'passed');
 */
export type CheckKind = 'unit' | 'script' | 'disk' | 'memory';

/** A required failure rolls the update back; a wanted one is a warning. */
export type CheckLevel = 'required' | 'wanted';

/**
 * passed; failed (non-zero exit, unit not active, under a threshold, could not start);
 * timedOut (its own timeout, or killed at the deadline); notRun (the deadline passed before its turn).
 */
export type CheckStatus = 'passed' | 'failed' | 'timedOut' | 'notRun';

export interface CheckResult {
  /** Stable and readable: `unit:sshd.service`, the script's path, `disk:/var`, `memory`. */
  name: string;
  kind: CheckKind;
  level: CheckLevel;
  status: CheckStatus;
  /** One line for a person: the exit code and last line of output, the unit's state, the figures. */
  detail: string;
  /** Wall time the check took; for people, never for decisions. */
  durationMs: number;
}

export interface HealthReport {
  /** Every required check passed and the deadline did not pass. Wanted checks never change it. */
  ok: boolean;
  required: CheckResult[];
  wanted: CheckResult[];
  deadlineHit: boolean;
}

/** The verdict over a run's results: plan order kept, split by level. */
export function summarize(results: CheckResult[], deadlineHit: boolean): HealthReport {
  const required = results.filter((r) => r.level === 'required');
  const wanted = results.filter((r) => r.level === 'wanted');
  return { ok: !deadlineHit && required.every((r) => r.status === 'passed'), required, wanted, deadlineHit };
}

/**
 * Why a run means rolling back, in the state record's words (engine/record.ts, ROLLBACK_REASONS):
 * the deadline first, since it explains the checks it cut short; null when healthy.
 */
export function rollbackReason(report: HealthReport): 'deadline' | 'unhealthy' | null {
  if (report.deadlineHit) return 'deadline';
  return report.ok ? null : 'unhealthy';
}

/**
 * One line for the update's log and for people: how many checks passed, then every check that
 * did not, with its detail.
 *
 * @example
 * healthSummary(report); // '3 of 5 required checks passed; failed: unit:app.service (failed), ...; warnings: memory (...)'
 */
export function healthSummary(report: HealthReport): string {
  const bad = (rs: CheckResult[]) => rs.filter((r) => r.status !== 'passed').map((r) => `${r.name} (${r.status === 'failed' ? r.detail : `${r.status}: ${r.detail}`})`);
  const passed = report.required.filter((r) => r.status === 'passed').length;
  const parts = [`${passed} of ${report.required.length} required checks passed`];
  if (report.deadlineHit) parts.push('the deadline passed');
  const failed = bad(report.required);
  if (failed.length > 0) parts.push(`failed: ${failed.join(', ')}`);
  const warnings = bad(report.wanted);
  if (warnings.length > 0) parts.push(`warnings: ${warnings.join(', ')}`);
  return parts.join('; ');
}
