import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// uWebSockets.js aborts a worker thread that ends with a listen socket open; forks isolate that.
export default defineConfig({
  // Tests run the workspace packages from source (as tsconfig's `paths` do), never a stale build.
  resolve: {
    alias: [
      { find: /^stockwire$/, replacement: source('./sdk/index.ts') },
      { find: /^stockwire\/widget$/, replacement: source('./sdk/widget/index.ts') },
      { find: /^stockwire\/webhooks$/, replacement: source('./sdk/webhooks/index.ts') },
      { find: /^stockwire-server$/, replacement: source('./server/index.ts') },
      { find: /^stockwire-server\/simulator$/, replacement: source('./server/simulator/index.ts') },
    ],
  },
  test: {
    pool: 'forks',
    include: ['server/**/*.test.ts', 'sdk/**/*.test.ts', 'benchmarks/**/*.test.ts', 'examples/**/*.test.ts', 'test/**/*.test.ts'],
    // The package test packs and rebuilds dist/: `npm run test:packages` runs it after these.
    exclude: ['**/node_modules/**', '**/dist/**', 'test/packages/**'],
    // Generous: a test that starts PGlite (initdb in WASM) or a tsx child process can take tens of
    // seconds on a busy 2-core machine; a hang still fails.
    testTimeout: 60_000,
    hookTimeout: 90_000,
    globalSetup: ['test/global-setup.ts'],
  },
});
