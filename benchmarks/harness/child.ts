/**
 * Systems under test run as child processes (node --import tsx <file>) so the harness can read their
 * CPU seconds and peak RSS from /proc, and so a crash or a file-limit hit stays in the child.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ReadyInfo } from '../servers/server-env.js';

const CLOCK_TICKS = 100; // USER_HZ on Linux

export interface ProcSample {
  /** user + system CPU seconds so far. */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  /** Peak RSS over the process lifetime (VmHWM). */
  readonly peakRssBytes: number;
}

/** Reads CPU and memory of any process from /proc; null when it is gone or unreadable. */
export function readProc(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { cpuSeconds, rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
  } catch {
    return null;
  }
}

export interface ChildServer {
  readonly pid: number;
  readonly ready: ReadyInfo;
  readonly process: ChildProcess;
  /** Last lines of the child's stderr, for error reports. */
  stderrTail(): string;
  stop(): Promise<void>;
}

export async function startChild(
  file: URL,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<ChildServer> {
  // BENCH_CPU_PROF=<dir>: each server writes a V8 CPU profile there when it exits (for "why").
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', file.pathname], {
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
      reject(new Error(`${file.pathname} did not start within ${timeoutMs} ms: ${tail.join('')}`));
    }, timeoutMs);
    lines.on('line', (line) => {
      if (!line.startsWith('READY ')) {
        tail.push(`${line}\n`);
        if (tail.length > 40) tail.shift();
        if (process.env.BENCH_SERVER_LOG) process.stderr.write(`[server] ${line}\n`);
        return;
      }
      clearTimeout(timer);
      resolve(JSON.parse(line.slice(6)) as ReadyInfo);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file.pathname} exited with ${code} before it was ready: ${tail.join('')}`));
    });
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
