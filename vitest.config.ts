import { defineConfig } from 'vitest/config';

// Tests are tiered by blast radius (style.md 16): unit tests touch no system tool beyond the
// test's temp dir; integration tests drive real tools (gpg, dpkg-deb, apt, the host's archive).
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
    ],
  },
});
