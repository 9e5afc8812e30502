/**
 * `npm run example:webhooks -- [options]`: receives Stockwire's stock events and prints them.
 * With --key (a secret key) it subscribes itself and prints the signing secret; else pass --secret.
 */
import { Command, Option } from 'commander';
import { startWebhookReceiver } from './receiver-server.js';

const program = new Command()
  .name('webhook-receiver')
  .description('Receive and verify Stockwire webhooks (stock.low_stock, stock.sold_out, stock.back_in_stock).')
  .option('--port <n>', 'port to listen on', '8083')
  .addOption(new Option('--secret <whsec>', 'the signing secret of an existing webhook').env('STOCKWIRE_WEBHOOK_SECRET'))
  .addOption(new Option('--key <sk>', 'a secret key: subscribe this receiver (the server needs WEBHOOK_ALLOW_PRIVATE=true for a local URL)').env('STOCKWIRE_SECRET_KEY'))
  .addOption(new Option('--api <url>', 'API base URL').env('STOCKWIRE_API').default('http://127.0.0.1:8080'));

async function main(): Promise<void> {
  program.parse();
  const flags = program.opts<{ port: string; secret?: string; key?: string; api: string }>();
  let secret = flags.secret;
  const url = `http://127.0.0.1:${flags.port}/webhooks`;
  if (secret === undefined) {
    if (flags.key === undefined) throw new Error('Pass --secret whsec_… (an existing webhook) or --key sk_… (to subscribe this receiver).');
    const response = await fetch(`${flags.api}/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${flags.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url, events: ['stock.low_stock', 'stock.sold_out', 'stock.back_in_stock'] }),
    });
    const body = (await response.json()) as { secret?: string; error?: { message: string } };
    if (!response.ok || body.secret === undefined) throw new Error(`Subscribing failed: ${body.error?.message ?? response.status}`);
    secret = body.secret;
    console.log(`Subscribed ${url}; its secret (shown once): ${secret}`);
  }
  const receiver = await startWebhookReceiver({
    secret,
    port: Number(flags.port),
    onEvent: (event) => console.log(`${event.createdAt} ${event.type} ${event.data.sku}: ${event.data.available} available (version ${event.data.version})`),
  });
  console.log(`Listening on ${receiver.url}`);
  const stop = (): void => void receiver.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
