import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The demo merchant's keys, kept in `DATA_DIR/demo.json` (mode 0600). The database stores the secret
 * key only hashed, so this file is the one place the demo (and the order simulator) can read it back.
 */
export interface DemoKeys {
  readonly merchantId: string;
  readonly name: string;
  readonly publishableKey: string;
  readonly secretKey: string;
  readonly createdAt: string;
  /** Where the demo last ran, so the examples find it when PORT or WS_PORT were changed. */
  readonly apiUrl?: string;
  readonly wsUrl?: string;
}

export const demoFileName = 'demo.json';

export function demoFilePath(dataDir: string): string {
  return join(dataDir, demoFileName);
}

/** The saved keys, or undefined when there is no file or it is not one of ours. */
export async function readDemoKeys(dataDir: string): Promise<DemoKeys | undefined> {
  let text: string;
  try {
    text = await readFile(demoFilePath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(text);
    return isDemoKeys(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Written to a temporary file first, so a crash never leaves half a file behind. */
export async function writeDemoKeys(dataDir: string, keys: DemoKeys): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const path = demoFilePath(dataDir);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600); // the umask may have widened nothing, but be explicit
  await rename(temporary, path);
}

function isDemoKeys(value: unknown): value is DemoKeys {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.merchantId === 'string' &&
    typeof v.name === 'string' &&
    typeof v.publishableKey === 'string' &&
    v.publishableKey.startsWith('pk_') &&
    typeof v.secretKey === 'string' &&
    v.secretKey.startsWith('sk_') &&
    typeof v.createdAt === 'string' &&
    (v.apiUrl === undefined || typeof v.apiUrl === 'string') &&
    (v.wsUrl === undefined || typeof v.wsUrl === 'string')
  );
}
