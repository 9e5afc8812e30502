import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import nodeResolve from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';
import esbuild from 'rollup-plugin-esbuild';

/** widget.js must stay at or under this many bytes gzipped; the build fails above it. */
const widgetBudgetBytes = Number(process.env.SW_BUDGET ?? 8192);

const esbuildOptions = {
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  tsconfig: 'tsconfig.json',
};

/** Prints widget.js's gzipped size and fails the build when it is over budget. */
function sizeBudget(limit) {
  return {
    name: 'stockwire-size-budget',
    generateBundle(_options, bundle) {
      for (const file of Object.values(bundle)) {
        if (file.type !== 'chunk') continue;
        const raw = Buffer.byteLength(file.code);
        const gzipped = gzipSync(file.code, { level: 9 }).length;
        const line = `${file.fileName}: ${raw} bytes, ${gzipped} bytes gzipped (budget ${limit})`;
        if (gzipped > limit) this.error(`${line}: over budget by ${gzipped - limit} bytes`);
        console.log(line);
      }
    },
  };
}

/** Writes the `.d.ts` files behind package.json's `exports` (esbuild strips types, tsc emits them). */
function declarations() {
  return {
    name: 'stockwire-declarations',
    writeBundle() {
      execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'sdk/tsconfig.build.json'], { stdio: 'inherit' });
    },
  };
}

/** Emits a file as it is beside the bundle (the console's stylesheet: its CSP allows no inline styles). */
function copyAsset(from, fileName) {
  return {
    name: 'stockwire-copy-asset',
    buildStart() {
      this.addWatchFile(from);
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName, source: readFileSync(from) });
    },
  };
}

export default [
  {
    // The script tag merchants paste: one IIFE with Preact inside, minified. The server package serves it.
    input: 'sdk/embed.ts',
    output: { file: 'server/dist/widget.js', format: 'iife', sourcemap: false },
    plugins: [
      nodeResolve({ browser: true, extensions: ['.ts', '.tsx', '.js', '.mjs'] }),
      esbuild({ ...esbuildOptions, minify: false }),
      terser({
        ecma: 2020,
        compress: { passes: 3, unsafe: true, module: true, toplevel: true },
        // Our private `_fields` shrink to short names, Preact-style; Preact's own `_sb` is left alone.
        mangle: { properties: { regex: /^_(?!sb$)[a-z]/ } },
        format: { comments: false },
      }),
      sizeBudget(widgetBudgetBytes),
    ],
  },
  {
    // Optional features for product pages, loaded by widget.js only where used (see sdk/extras.ts).
    input: 'sdk/extras.ts',
    output: { file: 'server/dist/widget-extras.js', format: 'iife', sourcemap: false },
    plugins: [
      nodeResolve({ browser: true, extensions: ['.ts', '.tsx', '.js', '.mjs'] }),
      esbuild({ ...esbuildOptions, minify: false }),
      terser({ ecma: 2020, compress: { passes: 3 }, format: { comments: false } }),
      sizeBudget(widgetBudgetBytes),
    ],
  },
  {
    // The merchant console at /console: its own bundle with its own Preact, never part of widget.js.
    input: 'server/console/main.tsx',
    output: { file: 'server/dist/console.js', format: 'iife', sourcemap: false },
    plugins: [
      nodeResolve({ browser: true, extensions: ['.ts', '.tsx', '.js', '.mjs'] }),
      esbuild({ ...esbuildOptions, minify: false }),
      terser({ ecma: 2020, compress: { passes: 2 }, format: { comments: false } }),
      copyAsset('server/console/console.css', 'console.css'),
    ],
  },
  {
    // The `stockwire` package: `.`, `./widget` and `./webhooks` (Node only) as ES modules; Preact stays a dependency.
    input: { index: 'sdk/index.ts', 'widget/index': 'sdk/widget/index.ts', 'webhooks/index': 'sdk/webhooks/index.ts' },
    external: (id) => id === 'preact' || id.startsWith('preact/') || id.startsWith('node:') || id === 'stockwire',
    output: { dir: 'sdk/dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
    plugins: [nodeResolve({ extensions: ['.ts', '.tsx', '.js'] }), esbuild(esbuildOptions), declarations()],
  },
];
