import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));

/** What rollup makes: the script-tag bundle and the console the server serves, and the `stockwire` package's modules. */
const bundles = ['server/dist/widget.js', 'server/dist/console.js', 'server/dist/console.css', 'sdk/dist/index.js', 'sdk/dist/widget/index.js'];

/** `npm test` builds first; a single test file run may not have, so build when an output is missing. */
export function ensureWidgetBuilt(): void {
  if (bundles.every((file) => existsSync(join(repositoryRoot, file)))) return;
  execFileSync(process.execPath, [join(repositoryRoot, 'node_modules/rollup/dist/bin/rollup'), '-c'], { cwd: repositoryRoot, stdio: 'pipe' });
}

/** The compiled `stockwire` bin, as `npm start` runs it; built (everything) when missing. */
export function builtCli(): string {
  const cli = join(repositoryRoot, 'server/dist/cli.js');
  if (!existsSync(cli) || !bundles.every((file) => existsSync(join(repositoryRoot, file)))) {
    execFileSync('npm', ['run', 'build'], { cwd: repositoryRoot, stdio: 'pipe' });
  }
  return cli;
}
