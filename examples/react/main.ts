/** `npm run example:react`: builds the app, then serves it on http://127.0.0.1:8082 against the demo merchant unless told otherwise. */
import { Command, Option } from 'commander';
import { resolveExampleTarget } from '../example-keys.js';
import { buildReactExample } from './build.js';
import { startReactServer } from './react-server.js';

const flags = new Command()
  .name('example-react')
  .addOption(new Option('--port <n>', 'port of the React app').env('REACT_PORT').default('8082'))
  .addOption(new Option('--api <url>', 'Stockwire API base URL').env('STOCKWIRE_API'))
  .addOption(new Option('--ws <url>', 'Stockwire socket URL').env('STOCKWIRE_WS'))
  .addOption(new Option('--key <pk>', 'publishable key (default: the demo merchant)').env('STOCKWIRE_PUBLISHABLE_KEY'))
  .parse()
  .opts<{ port: string; api?: string; ws?: string; key?: string }>();

try {
  const target = await resolveExampleTarget(flags);
  await buildReactExample();
  const app = await startReactServer({ ...target, port: Number(flags.port) });
  console.log(`React example: ${app.url}  (stock from ${target.apiUrl} and ${target.wsUrl})`);
  console.log('Ctrl-C to stop.');
  process.once('SIGINT', () => void app.close().then(() => process.exit(0)));
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
} catch (error) {
  console.error(`example-react: ${(error as Error).message}`);
  process.exit(1);
}
