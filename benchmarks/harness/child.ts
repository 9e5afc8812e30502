/**
 * Systems under test run as child processes so the harness can read their CPU seconds and peak RSS
 * from /proc, and so a crash or a file-limit hit stays in the child. Each server file is bundled to
 * plain JavaScript first and run by plain `node`, as production runs: no TypeScript loader (and no
 * esbuild service process) in any system's memory or CPU time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { ReadyInfo } from '../servers/server-env.js';

const CLOCK_TICKS = 100; // USER_HZ on Linux

export interface ProcSample {
  /** user + system CPU seconds so far. */
  readonly cpuSeconds: number;
  /** The part of cpuSeconds spent in the kernel (stime): syscalls, and on loopback the peer's TCP receive work. */
  readonly kernelCpuSeconds: number;
  readonly rssBytes: number;
  /** Peak RSS over the process lifetime (VmHWM). */
  readonly peakRssBytes: number;
  /** The part of RSS that is the process's own memory (RssAnon): heaps, stacks, buffers. */
  readonly anonRssBytes: number;
  /** The part of RSS that is mapped files (RssFile): the node binary, shared libraries, addons. */
  readonly fileRssBytes: number;
}

/** Reads CPU and memory of any process from /proc; null when it is gone or unreadable. */
export function readProc(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    const kernelCpuSeconds = Number(fields[12]) / CLOCK_TICKS;
    const cpuSeconds = Number(fields[11]) / CLOCK_TICKS + kernelCpuSeconds;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { cpuSeconds, kernelCpuSeconds, rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM'), anonRssBytes: kb('RssAnon'), fileRssBytes: kb('RssFile') };
  } catch {
    return null;
  }
}

/** RSS of a process and all its descendants (the npm, loader or worker processes a system may start). */
export function readTreeRss(pid: number): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone meanwhile.
    }
  }
  let total = 0;
  const pending = [pid];
  while (pending.length > 0) {
    const next = pending.pop()!;
    total += readProc(next)?.rssBytes ?? 0;
    pending.push(...(children.get(next) ?? []));
  }
  return total;
}

/** Where bundled server files go: inside node_modules, so their external imports resolve from the repository; one folder per harness process. */
const bundleRoot = fileURLToPath(new URL('../../node_modules/.cache/stockwire-bench/', import.meta.url));
const bundleDir = `${bundleRoot}${process.pid}/`;
const bundles = new Map<string, Promise<string>>();
process.once('exit', () => rmSync(bundleDir, { recursive: true, force: true }));

/** Folders of harness processes that are gone (a test worker is killed without an `exit` event). */
function removeStaleBundles(): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(bundleRoot);
  } catch {
    return;
  }
  for (const entry of entries) {
    try {
      process.kill(Number(entry), 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') rmSync(`${bundleRoot}${entry}`, { recursive: true, force: true });
    }
  }
}

/** Bundled once per harness process (the split variant starts the same file twice). */
function bundle(file: URL): Promise<string> {
  let outfile = bundles.get(file.href);
  if (outfile === undefined) {
    if (bundles.size === 0) removeStaleBundles();
    const target = `${bundleDir}${basename(file.pathname, '.ts')}.mjs`;
    outfile = build({ entryPoints: [fileURLToPath(file)], outfile: target, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'error' }).then(() => target);
    bundles.set(file.href, outfile);
  }
  return outfile;
}

export interface ChildServer {
  readonly pid: number;
  readonly ready: ReadyInfo;
  readonly process: ChildProcess;
  /** Last lines of the child's stderr, for error reports. */
  stderrTail(): string;
  stop(): Promise<void>;
}

/** A baseline server file, bundled and run by `node`; ready when it prints its `READY {…}` line. */
export async function startChild(file: URL, env: Record<string, string>, timeoutMs = 60_000): Promise<ChildServer> {
  return startProcess({ name: file.pathname, command: [process.execPath, await bundle(file)] }, env, timeoutMs);
}

export interface ChildCommand {
  /** For error messages. */
  readonly name: string;
  /** The executable and its arguments. */
  readonly command: readonly string[];
  /** Resolves once the child serves; default: its `READY {…}` stdout line. */
  readonly ready?: () => Promise<ReadyInfo>;
}

export async function startProcess(spec: ChildCommand, env: Record<string, string>, timeoutMs = 60_000): Promise<ChildServer> {
  const name = spec.name;
  // BENCH_CPU_PROF=<dir>: each server writes a V8 CPU profile there when it exits (for "why").
  // On the command line, not in NODE_OPTIONS: Node 20 refuses --cpu-prof there.
  const dir = process.env.BENCH_CPU_PROF;
  const [executable, ...args] = dir ? profiled(spec.command, dir) : spec.command;
  const child = spawn(executable!, args, {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    tail.push(chunk);
    if (tail.length > 40) tail.shift();
  });
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<ReadyInfo>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${timeoutMs} ms: ${tail.join('')}`));
    }, timeoutMs);
    lines.on('line', (line) => {
      if (!line.startsWith('READY ')) {
        tail.push(`${line}\n`);
        if (tail.length > 40) tail.shift();
        if (process.env.BENCH_SERVER_LOG) process.stderr.write(`[server] ${line}\n`);
        return;
      }
      if (spec.ready) return;
      clearTimeout(timer);
      resolve(JSON.parse(line.slice(6)) as ReadyInfo);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready: ${tail.join('')}`));
    });
    spec.ready?.().then(
      (info) => {
        clearTimeout(timer);
        resolve(info);
      },
      (error: unknown) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    pid: child.pid!,
    ready,
    process: child,
    stderrTail: () => tail.join(''),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 8_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The command run by this `node` with a CPU profile written to `dir` on exit (a script runs through `node` instead of its shebang). */
function profiled(command: readonly string[], dir: string): string[] {
  const [executable, ...args] = command;
  const script = executable === process.execPath ? args : [executable!, ...args];
  return [process.execPath, '--cpu-prof', `--cpu-prof-dir=${dir}`, ...script];
}
