/** `npm run example:shop`: the example shop on http://127.0.0.1:8081, using the demo merchant unless told otherwise. */
import { Command, Option } from 'commander';
import { resolveExampleTarget } from '../example-keys.js';
import { startShopServer } from './shop-server.js';

const flags = new Command()
  .name('example-shop')
  .addOption(new Option('--port <n>', 'port of the shop page').env('SHOP_PORT').default('8081'))
  .addOption(new Option('--api <url>', 'Stockwire API base URL').env('STOCKWIRE_API'))
  .addOption(new Option('--key <pk>', 'publishable key (default: the demo merchant)').env('STOCKWIRE_PUBLISHABLE_KEY'))
  .parse()
  .opts<{ port: string; api?: string; key?: string }>();

try {
  const target = await resolveExampleTarget(flags);
  const shop = await startShopServer({ ...target, port: Number(flags.port) });
  console.log(`Example shop: ${shop.url}  (stock from ${target.apiUrl}, key ${target.publishableKey})`);
  console.log('Ctrl-C to stop.');
  process.once('SIGINT', () => void shop.close().then(() => process.exit(0)));
  process.once('SIGTERM', () => void shop.close().then(() => process.exit(0)));
} catch (error) {
  console.error(`example-shop: ${(error as Error).message}`);
  process.exit(1);
}
