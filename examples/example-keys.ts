import { readDemoKeys } from 'stockwire-server/simulator';

/**
 * Where an example page gets its Stockwire addresses and publishable key: flags or environment
 * first, else the demo merchant that `npm start` saved in DATA_DIR/demo.json (so the examples run
 * next to the demo with no setup).
 */
export interface ExampleTarget {
  readonly apiUrl: string;
  readonly wsUrl: string;
  readonly publishableKey: string;
}

export interface ExampleFlags {
  readonly api?: string;
  readonly ws?: string;
  readonly key?: string;
  readonly dataDir?: string;
}

export async function resolveExampleTarget(flags: ExampleFlags): Promise<ExampleTarget> {
  const dataDir = flags.dataDir ?? process.env.DATA_DIR ?? './.stockwire';
  const key = flags.key ?? process.env.STOCKWIRE_PUBLISHABLE_KEY;
  const demo = await readDemoKeys(dataDir);
  if (key !== undefined && !key.startsWith('pk_')) {
    throw new Error('A page needs a publishable key (pk_…); a secret key must never reach a browser.');
  }
  const publishableKey = key ?? demo?.publishableKey;
  if (publishableKey === undefined) {
    throw new Error(`No --key given and no demo merchant in ${dataDir}/demo.json. Start the demo first (npm start), or pass --key pk_…`);
  }
  const apiUrl = flags.api ?? process.env.STOCKWIRE_API ?? demo?.apiUrl ?? 'http://127.0.0.1:8080';
  const wsUrl = flags.ws ?? process.env.STOCKWIRE_WS ?? demo?.wsUrl ?? 'ws://127.0.0.1:9501';
  return { apiUrl: apiUrl.replace(/\/+$/, ''), wsUrl, publishableKey };
}
