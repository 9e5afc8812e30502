import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium unless CHROMIUM_PATH says otherwise. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * A Chromium already serving elsewhere (`test/support/chromium-server.ts` prints it): the tests
 * connect to it instead of starting one, e.g. from a chroot with no browser of its own.
 */
export const chromiumEndpoint = process.env.CHROMIUM_WS_ENDPOINT || undefined;

/** Browser suites run wherever Chromium is installed or served; in CI (CI=true) a missing one fails them. */
export const hasChromium = chromiumEndpoint !== undefined || existsSync(chromiumPath) || process.env.CI === 'true';

/** Headless in a container, and nothing that reaches beyond localhost on its own. */
export const chromiumArgs: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];

/** With an endpoint, `close()` only drops this connection and its contexts; the served browser stays. */
export function launchChromium(): Promise<Browser> {
  if (chromiumEndpoint !== undefined) return chromium.connect(chromiumEndpoint);
  return chromium.launch({ executablePath: chromiumPath, args: [...chromiumArgs] });
}
