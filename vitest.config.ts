import { availableParallelism } from 'node:os';
import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// Tests are tiered by blast radius (docs/conventions.md, "Tests"): unit tests touch no system tool beyond the
// test's temp dir; integration tests drive real tools (gpg, dpkg-deb, apt, the host's archive);
// vm tests build real images and boot them under qemu-system (minutes each), so they are defined
// only for `npm run test:vm` (OTA_TEST_VM=1), never in `npm test`'s default run.
const vm = {
  test: {
    name: 'vm',
    include: ['test/**/*.vm.test.ts'],
    testTimeout: 20 * 60_000,
    hookTimeout: 20 * 60_000,
    // one qemu at a time: the machine has few cores and TCG boots use them all (with maxWorkers below)
    fileParallelism: false,
  },
};

// The files that take minutes, longest first. Vitest runs the files it has timed before longest
// first, but a clean clone has no timings and it starts the largest files first instead: these
// small ones would start last and leave one worker alone at the end. Only the order depends on
// this list.
const LONGEST = [
  'test/host-tools/compose/build-real.int.test.ts',
  'test/e2e/fleet-rollout.int.test.ts',
  'test/host-tools/compose/build.int.test.ts',
  'test/device-agent/agent/crash.int.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONGEST.indexOf(relative(f.project.config.root, f.moduleId));
      return i < 0 ? LONGEST.length : i;
    };
    return sorted.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(({ f }) => f);
  }
}

export default defineConfig({
  test: {
    // Most files wait on processes, brokers and disks more than they compute: two workers on a
    // two-core machine (Vitest's default there is one) keep both cores busy. The pool takes its
    // size from here, not from a project (the vm project's fileParallelism alone does not hold),
    // so the vm tier asks for one worker here.
    maxWorkers: process.env.OTA_TEST_VM === '1' ? 1 : Math.max(2, availableParallelism() - 1),
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts', 'test/**/*.vm.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
      ...(process.env.OTA_TEST_VM === '1' ? [vm] : []),
    ],
  },
});
