import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Upstream from '@btc-vision/uwebsockets.js';
import type * as Node20Build from 'uWebSockets.js';

/**
 * The one home of uWebSockets.js: loads the native build that fits the running Node, never a
 * JavaScript fallback, and says in one line what to change when none fits.
 *
 * Each package's own entry file picks `uws_<platform>_<arch>_<process.versions.modules>.node`; the
 * trufflesuite one silently swaps in a slow `ws`-based imitation when that fails or when
 * `UWS_USE_FALLBACK` is set. Requiring the binary file itself, by the same name, keeps both out.
 */
const builds = [
  // uWS.js v20.57 as published upstream: Node 20, 22, 24 and 25 (ABI 115, 127, 137, 141); glibc ≥ 2.38.
  { package: '@btc-vision/uwebsockets.js', root: '.', binaries: '.' },
  // uWS.js v20.30: Node 16, 18 and 20 (ABI 93, 108, 115); glibc ≥ 2.27, so Node 20 on Debian 12 keeps working.
  { package: 'uWebSockets.js', root: '..', binaries: '../binaries' },
] as const;

/**
 * The API in the upstream typings, without what the v20.30 build lacks. Where the two typings
 * disagree, both binaries behave alike: `closeOnBackpressureLimit` is read as a number (true is 1),
 * and `getQuery(key)` answers `''` (v20.30) or `undefined` (upstream) for a missing key.
 */
export type TemplatedApp = Omit<Upstream.TemplatedApp, 'ws' | 'close' | 'filter'> & {
  ws<UserData>(pattern: Upstream.RecognizedString, behavior: WebSocketBehavior<UserData>): TemplatedApp;
};
export type WebSocketBehavior<UserData> = Omit<Upstream.WebSocketBehavior<UserData>, 'dropped'>;
export type { HttpRequest, HttpResponse, us_listen_socket, us_socket_context_t, WebSocket } from '@btc-vision/uwebsockets.js';

export interface UwsModule {
  App(): TemplatedApp;
  readonly DISABLED: Upstream.CompressOptions;
  us_listen_socket_close(listenSocket: Upstream.us_listen_socket): void;
  /** Typed for `us_socket` in both typings; a listen socket is what both examples pass. */
  us_socket_local_port(listenSocket: Upstream.us_listen_socket): number;
}

// Compile-time: everything above exists in the v20.30 typings too, so the gateway runs on either build.
type Assert<T extends true> = T;
type Within<A, B> = [Exclude<keyof A, keyof B>] extends [never] ? true : false;
export type _BothBuilds = [
  Assert<Within<TemplatedApp, Node20Build.TemplatedApp>>,
  Assert<Within<WebSocketBehavior<unknown>, Node20Build.WebSocketBehavior<unknown>>>,
  Assert<Within<UwsModule, typeof Node20Build>>,
  Assert<Within<Upstream.WebSocket<unknown>, Node20Build.WebSocket<unknown>>>,
  Assert<Within<Upstream.HttpResponse, Node20Build.HttpResponse>>,
  Assert<Within<Upstream.HttpRequest, Node20Build.HttpRequest>>,
];

export interface UwsBuild {
  /** npm name and version, e.g. `@btc-vision/uwebsockets.js@20.57.0`. */
  readonly name: string;
  readonly file: string;
}

export interface LoadedUws {
  readonly uws: UwsModule;
  readonly build: UwsBuild;
}

/** No native build fits this Node and C library; the message is one line naming both and the fix. */
export class UwsUnavailableError extends Error {
  override readonly name = 'UwsUnavailableError';
}

const require = createRequire(import.meta.url);
let loaded: LoadedUws | undefined;

/** The first build whose binary loads, newest first; the same one for every later call. */
export function loadUws(): LoadedUws {
  if (loaded !== undefined) return loaded;
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  const failures: string[] = [];
  for (const candidate of builds) {
    const main = dirname(require.resolve(candidate.package));
    const meta = JSON.parse(readFileSync(join(main, candidate.root, 'package.json'), 'utf8')) as { name: string; version: string };
    const file = join(main, candidate.binaries, binary);
    try {
      loaded = { uws: require(file) as UwsModule, build: { name: `${meta.name}@${meta.version}`, file } };
      return loaded;
    } catch (error) {
      failures.push(`${meta.name}@${meta.version} ${whyNot(error)}`);
    }
  }
  throw new UwsUnavailableError(
    `no native uWebSockets.js build loads on Node ${process.versions.node} (ABI ${process.versions.modules}, ${process.platform}-${process.arch}) ` +
      `with ${libcName()} (${failures.join('; ')}). Fix: run Node 22 or 24 (or 20, 25) on Linux with glibc 2.38 or newer, ` +
      `e.g. Debian 13 or Ubuntu 24.04; see the README's support matrix.`,
  );
}

/** One short reason per build: a missing binary for this ABI, a too old glibc, or the loader's first line. */
function whyNot(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if ((error as { code?: unknown }).code === 'MODULE_NOT_FOUND') return 'has no binary for this Node';
  const glibc = /GLIBC_([\d.]+)' not found/.exec(message);
  if (glibc) return `needs glibc ${glibc[1]}`;
  return `failed: ${message.split('\n')[0]}`;
}

function libcName(): string {
  const { header } = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
  return header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}` : 'no glibc (musl or another C library)';
}
