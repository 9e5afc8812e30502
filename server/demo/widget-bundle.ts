import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bundle = `${root}dist/widget.js`;

/**
 * `/widget.js` serves `dist/widget.js`, which `npm run build` makes. A fresh clone has no `dist/`,
 * so the demo builds it on its first start rather than showing a page without stock.
 * Returns true when it had to build.
 */
export async function ensureWidgetBundle(onBuilding?: () => void): Promise<boolean> {
  if (existsSync(bundle)) return false;
  onBuilding?.();
  await promisify(execFile)(process.execPath, [`${root}node_modules/rollup/dist/bin/rollup`, '-c'], { cwd: root, timeout: 180_000 });
  return true;
}
