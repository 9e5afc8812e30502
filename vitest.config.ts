import { defineConfig } from 'vitest/config';

// uWebSockets.js aborts a worker thread that ends with a listen socket open; forks isolate that.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['server/**/*.test.ts', 'sdk/**/*.test.ts', 'benchmarks/**/*.test.ts', 'examples/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/global-setup.ts'],
  },
});
