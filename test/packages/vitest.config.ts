import { defineConfig } from 'vitest/config';

// The package test packs (and so rebuilds dist/) and installs from the registry: it runs alone, after the other suites.
export default defineConfig({
  test: {
    include: ['test/packages/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 300_000,
  },
});
