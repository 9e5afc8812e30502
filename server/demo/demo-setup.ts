import { readDemoKeys, writeDemoKeys, type DemoKeys } from './demo-file.js';
import type { DemoProduct } from './demo-products.js';

/**
 * Creates the demo merchant and its products through the public REST API — the same calls a new
 * merchant's own setup script would make — or finds them again on a later start.
 */
export interface DemoMerchant {
  readonly keys: DemoKeys;
  /** False when the keys came from `DATA_DIR/demo.json` and still work. */
  readonly created: boolean;
  /** SKUs that were new and got their first stock now. */
  readonly stocked: readonly string[];
}

export const demoMerchantName = 'Stockwire demo shop';

export class DemoSetupError extends Error {
  override readonly name = 'DemoSetupError';
}

export async function ensureDemoMerchant(options: {
  readonly apiUrl: string;
  readonly adminToken: string;
  readonly dataDir: string;
  readonly products: readonly DemoProduct[];
}): Promise<DemoMerchant> {
  const api = options.apiUrl.replace(/\/+$/, '');
  let keys = await readDemoKeys(options.dataDir);
  let created = false;

  // Saved keys are kept only if the API still knows them (a wiped database or another DATABASE_URL does not).
  if (keys !== undefined) {
    const probe = await request(api, 'GET', '/v1/products', keys.secretKey);
    if (probe.status === 401) keys = undefined;
    else if (probe.status !== 200) throw new DemoSetupError(`Checking the saved demo keys failed: ${describe(probe)}`);
  }
  if (keys === undefined) {
    const answer = await request(api, 'POST', '/v1/merchants', options.adminToken, { name: demoMerchantName });
    const body = answer.body as Partial<Record<'id' | 'name' | 'publishableKey' | 'secretKey', unknown>> | undefined;
    if (answer.status !== 201 || typeof body?.publishableKey !== 'string' || typeof body.secretKey !== 'string' || typeof body.id !== 'string') {
      throw new DemoSetupError(`Creating the demo merchant failed: ${describe(answer)}`);
    }
    keys = {
      merchantId: body.id,
      name: typeof body.name === 'string' ? body.name : demoMerchantName,
      publishableKey: body.publishableKey,
      secretKey: body.secretKey,
      createdAt: new Date().toISOString(),
    };
    await writeDemoKeys(options.dataDir, keys);
    created = true;
  }

  const stocked: string[] = [];
  for (const product of options.products) {
    const path = encodeURIComponent(product.sku);
    const existing = await request(api, 'GET', `/v1/stock/${path}`, keys.secretKey);
    if (existing.status !== 200 && existing.status !== 404) {
      throw new DemoSetupError(`Reading ${product.sku} failed: ${describe(existing)}`);
    }
    // Upserting the same settings again changes nothing a shopper sees; it repairs edited ones.
    const upsert = await request(api, 'PUT', `/v1/products/${path}`, keys.secretKey, {
      name: product.name,
      lowStockThreshold: product.lowStockThreshold,
      display: product.display,
      viewers: product.viewers === true,
    });
    if (upsert.status >= 300) throw new DemoSetupError(`Setting up ${product.sku} failed: ${describe(upsert)}`);
    // Stock is set only the first time: a second start keeps what the last run left.
    if (existing.status === 404) {
      const put = await request(api, 'PUT', `/v1/stock/${path}`, keys.secretKey, { onHand: product.parLevel });
      if (put.status !== 200) throw new DemoSetupError(`Stocking ${product.sku} failed: ${describe(put)}`);
      stocked.push(product.sku);
    }
  }
  return { keys, created, stocked };
}

/** Saves where the demo runs now, so `npm run example:*` find it even on other ports. */
export async function rememberDemoAddresses(dataDir: string, keys: DemoKeys, apiUrl: string, wsUrl: string): Promise<DemoKeys> {
  const updated: DemoKeys = { ...keys, apiUrl, wsUrl };
  if (keys.apiUrl !== apiUrl || keys.wsUrl !== wsUrl) await writeDemoKeys(dataDir, updated);
  return updated;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

async function request(api: string, method: string, path: string, token: string, body?: unknown): Promise<Answer> {
  let response: Response;
  try {
    response = await fetch(`${api}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    throw new DemoSetupError(`${method} ${path}: the API did not answer (${(error as Error).message})`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed };
}

function describe(answer: Answer): string {
  const error = (answer.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return error === undefined ? `HTTP ${answer.status}` : `HTTP ${answer.status} ${String(error.code)}: ${String(error.message)}`;
}
