import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // one temp folder for the whole run, removed at its end (see the file)
    globalSetup: ['test/helpers/temp-root.ts'],
    // e2e tests start the real daemon as a child process; 2 cores, so keep the fan-out modest
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
