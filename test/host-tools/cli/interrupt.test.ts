import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { catchInterrupts, describeWork } from '../../../host-tools/cli/interrupt.js';

// The signals are delivered with process.emit, in process: what the handler does with them, not
// the kernel's delivery (test/host-tools/cli/build-interrupt.int.test.ts sends real ones).

describe('catchInterrupts', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('turns %s into an abort whose reason says what was being done, exit %i', (sig, exitCode) => {
    const before = process.listenerCount(sig);
    const interrupt = catchInterrupts('ota build');
    try {
      interrupt.track({ phase: 'import', message: 'bash 5.2', current: 68, total: 97 });
      interrupt.track({ phase: 'exec', message: 'x', program: 'x', argv: ['x'] });
      process.emit(sig, sig);
      expect(interrupt.signal.aborted).toBe(true);
      const reason = interrupt.signal.reason as OtaError;
      expect(reason).toBeInstanceOf(OtaError);
      expect(reason).toMatchObject({ code: 'ERR_OTA_INTERRUPTED', exitCode, hint: undefined, details: [] });
      expect(reason.message).toBe(`ota build interrupted by ${sig} while importing debs (68 of 97 imported, and kept for the next run)`);
    } finally {
      interrupt.dispose();
    }
    expect(process.listenerCount(sig)).toBe(before);
  });
});

describe('describeWork', () => {
  it('names the image or manifest the work belongs to', () => {
    expect(describeWork({ phase: 'resolve', manifest: 'gw.yaml', message: '' })).toBe('locking gw.yaml');
    expect(describeWork({ phase: 'union', image: 'gw/arm64', message: '' })).toBe('unpacking gw/arm64');
    expect(describeWork({ phase: 'configure', image: 'gw/arm64', message: '' })).toBe('configuring gw/arm64 (its work directory is removed)');
    expect(describeWork({ phase: 'commit', image: 'gw/arm64', message: '' })).toBe('committing gw/arm64');
    expect(describeWork({ phase: 'http', method: 'GET', url: 'http://x/', message: '' })).toBeUndefined();
  });
});
