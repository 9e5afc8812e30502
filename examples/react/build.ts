import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Bundles the React example to `examples/react/dist/app.js`. `stockwire` resolves to this
 * repository's SDK source, exactly as `npm install stockwire` would give an app the published build.
 */
export async function buildReactExample(): Promise<string> {
  const outfile = fileURLToPath(new URL('./dist/app.js', import.meta.url));
  await build({
    entryPoints: [fileURLToPath(new URL('./src/main.tsx', import.meta.url))],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    sourcemap: true,
    jsx: 'automatic',
    jsxImportSource: 'react',
    alias: { stockwire: fileURLToPath(new URL('../../sdk/index.ts', import.meta.url)) },
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildReactExample();
  console.log(`Built ${out}`);
}
