import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

/**
 * Helpers shared by the examples' and the demo's tests: a real headless Chromium, a free port
 * (for the socket, whose address the served widget.js must know), and widget.js built if missing.
 */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Browser suites run wherever Chromium is installed; CI installs it, so there they always run. */
export const hasChromium = existsSync(chromiumPath) || process.env.CI === 'true';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-quic',
      '--disable-sync',
    ],
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const root = fileURLToPath(new URL('..', import.meta.url));

/** `/widget.js` serves `dist/widget.js`; `npm test` builds it first, a single test file may not have. */
export function ensureWidgetBuilt(): void {
  if (existsSync(`${root}dist/widget.js`)) return;
  execFileSync(process.execPath, [`${root}node_modules/rollup/dist/bin/rollup`, '-c'], { cwd: root, stdio: 'pipe' });
}

export const repositoryRoot = root;
