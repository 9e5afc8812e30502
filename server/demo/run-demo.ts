import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { startOrderSimulator, type OrderSimulator } from '../simulator/order-simulator.js';
import { defaultWidgetFile } from '../api/widget-route.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { startStockwire } from '../main.js';
import { demoFilePath } from './demo-file.js';
import { demoPage, type DemoPageInfo } from './demo-page.js';
import { demoProducts } from './demo-products.js';
import { ensureDemoMerchant, rememberDemoAddresses } from './demo-setup.js';

/**
 * `npm start`: the production server (`startStockwire`, same code as `npm run serve`) plus what
 * only the demo adds — a demo merchant and products (created once, reused after), the `/demo`
 * shop page, and a simulated order stream so stock moves on its own.
 */
export interface DemoOptions {
  readonly logger?: Logger;
  /** Where the banner goes; default stdout. */
  readonly print?: (text: string) => void;
  /** Simulated orders per second (default 3). */
  readonly ordersPerSecond?: number;
}

export interface RunningDemo {
  readonly apiUrl: string;
  readonly wsUrl: string;
  readonly demoUrl: string;
  readonly publishableKey: string;
  readonly secretKey: string;
  readonly merchantId: string;
  /** False on a start that reused DATA_DIR/demo.json. */
  readonly createdMerchant: boolean;
  readonly simulator: OrderSimulator;
  /** Stops the simulator (releasing its holds), then the server. */
  close(): Promise<void>;
}

export async function runDemo(config: Config, options: DemoOptions = {}): Promise<RunningDemo> {
  // Setting up the merchant goes through the public admin API; without ADMIN_TOKEN the demo uses a
  // random one that lives only in this process (never printed, never stored).
  const adminToken = config.adminToken ?? `demo-${randomBytes(24).toString('base64url')}`;
  const demoConfig: Config = { ...config, adminToken };
  const print = options.print ?? ((text: string) => process.stdout.write(text));

  // The package ships widget.js prebuilt; a repository checkout builds it with `npm run build`.
  if (!existsSync(defaultWidgetFile)) print(`  widget.js is not built (${defaultWidgetFile}): run \`npm run build\`.\n`);

  let pageInfo: DemoPageInfo | undefined;
  let consoleSignIn: (() => Promise<string | undefined>) | undefined;
  const running = await startStockwire(demoConfig, {
    ...(options.logger ? { logger: options.logger } : {}),
    extraRoutes: [(app) => demoPage(app, { info: () => pageInfo, consoleSignIn: () => consoleSignIn?.() ?? Promise.resolve(undefined) })],
  });
  let simulator: OrderSimulator | undefined;
  try {
    if (running.apiUrl === undefined || running.wsUrl === undefined) {
      throw new Error('The demo needs ROLE=all (the API and the realtime endpoint in one process).');
    }
    const merchant = await ensureDemoMerchant({ apiUrl: running.apiUrl, adminToken, dataDir: config.dataDir, products: demoProducts });
    const keys = await rememberDemoAddresses(config.dataDir, merchant.keys, running.apiUrl, running.wsUrl);
    pageInfo = { publishableKey: keys.publishableKey, products: demoProducts, wsUrl: running.wsUrl };
    const apiUrl = running.apiUrl;
    // The console's own sign-in, as a merchant's browser would call it; the demo passes on the cookie.
    consoleSignIn = async () => {
      const answer = await fetch(`${apiUrl}/v1/console/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ secretKey: keys.secretKey }),
      });
      return answer.status === 201 ? answer.headers.getSetCookie()[0] : undefined;
    };

    simulator = startOrderSimulator({
      apiUrl: running.apiUrl,
      secretKey: keys.secretKey,
      skus: demoProducts.map((p) => ({ sku: p.sku, parLevel: p.parLevel, weight: p.weight })),
      rate: options.ordersPerSecond ?? 3,
      createMissing: false,
      onEvent: (event) => {
        if (event.type === 'error') options.logger?.warn({ event }, 'demo order simulator');
      },
    });
    simulator.done.catch((error: unknown) => {
      options.logger?.error({ err: error }, 'demo order simulator stopped');
    });

    const demoUrl = `${running.apiUrl}/demo`;
    print(
      banner({
        apiUrl: running.apiUrl,
        wsUrl: running.wsUrl,
        demoUrl,
        dataDir: config.dataDir,
        embedded: config.databaseUrl === undefined,
        inProcessBus: config.redisUrl === undefined && config.redisClusterNodes === undefined,
        created: merchant.created,
        publishableKey: keys.publishableKey,
        secretKey: keys.secretKey,
        rate: options.ordersPerSecond ?? 3,
      }),
    );

    const sim = simulator;
    let closing: Promise<void> | undefined;
    return {
      apiUrl: running.apiUrl,
      wsUrl: running.wsUrl,
      demoUrl,
      publishableKey: keys.publishableKey,
      secretKey: keys.secretKey,
      merchantId: keys.merchantId,
      createdMerchant: merchant.created,
      simulator: sim,
      close: () =>
        (closing ??= (async () => {
          await sim.stop().catch(() => undefined);
          await running.close();
        })()),
    };
  } catch (error) {
    await simulator?.stop().catch(() => undefined);
    await running.close();
    throw error;
  }
}

interface BannerFacts {
  readonly apiUrl: string;
  readonly wsUrl: string;
  readonly demoUrl: string;
  readonly dataDir: string;
  readonly embedded: boolean;
  readonly inProcessBus: boolean;
  readonly created: boolean;
  readonly publishableKey: string;
  readonly secretKey: string;
  readonly rate: number;
}

function banner(f: BannerFacts): string {
  const storage = f.embedded ? `embedded PostgreSQL in ${resolve(f.dataDir)}` : 'PostgreSQL (DATABASE_URL)';
  const bus = f.inProcessBus ? 'in-process bus' : 'Redis (REDIS_URL or REDIS_CLUSTER_NODES)';
  const merchant = f.created ? 'created now' : `reused from ${demoFilePath(f.dataDir)}`;
  return `
  Stockwire demo is running — ${storage}, ${bus}.

    Demo shop page    ${f.demoUrl}        <- open this
    Merchant console  ${f.apiUrl}/console     (the demo page's banner signs you in as the demo shop)
    API docs          ${f.apiUrl}/docs
    Realtime socket   ${f.wsUrl}/v1/ws
    Script tag        <script src="${f.apiUrl}/widget.js" data-key="${f.publishableKey}" async></script>

    Demo merchant     ${merchant}
    Publishable key   ${f.publishableKey}   (safe in pages: public reads only)
    Secret key        ${f.secretKey}   (server-side only; also in ${demoFilePath(f.dataDir)}, mode 0600)

  DEMO DATA: an order simulator sells, restocks and reserves the 12 demo products (~${f.rate} orders/s).
  Try:   curl -H "Authorization: Bearer ${f.secretKey}" ${f.apiUrl}/v1/stock/DEMO-PRINT
         npm run example:shop   |   npm run example:react   |   npm run example:simulator
  Production server without demo data: npm run serve.   Ctrl-C stops; the next start reuses the data.

`;
}
