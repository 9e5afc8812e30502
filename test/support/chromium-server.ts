import { chromium } from 'playwright-core';
import { chromiumArgs, chromiumPath } from './chromium.js';

/**
 * Chromium on this machine for browser tests that run somewhere else (`.ci/node-matrix` runs them
 * inside a Debian 13 root on other Node releases): prints the browser server's WebSocket endpoint
 * as one line on stdout, then serves until SIGTERM or SIGINT. Tests reach it through
 * `CHROMIUM_WS_ENDPOINT=<that line>`; each connection gets fresh contexts.
 */
const server = await chromium.launchServer({ executablePath: chromiumPath, headless: true, args: [...chromiumArgs], host: '127.0.0.1' });
process.stdout.write(`${server.wsEndpoint()}\n`);

const stop = (): void => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
