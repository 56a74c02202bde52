import { defineConfig } from 'vitest/config';

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
    // one qemu at a time: the machine has few cores and TCG boots use them all
    fileParallelism: false,
  },
};

export default defineConfig({
  test: {
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
