/** What the report says about the machine, and the file-descriptor limit every run is sized by. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface FileLimit {
  readonly soft: number;
  readonly hard: number;
}

export function fileLimit(): FileLimit {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  const parse = (v: string | undefined) => (v === undefined || v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v));
  return { soft: parse(match?.[1]), hard: parse(match?.[2]) };
}

/**
 * Raises this process's soft open-files limit to the hard limit (children inherit it). Raising the
 * hard limit needs CAP_SYS_RESOURCE, which a container usually lacks: the run is then sized to it.
 */
export function raiseFileLimit(): FileLimit {
  const before = fileLimit();
  if (before.soft < before.hard) {
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${before.hard}:${before.hard}`], { stdio: 'ignore' });
    } catch {
      // prlimit missing or refused: keep the soft limit
    }
  }
  return fileLimit();
}

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly kernel: string;
  readonly openFilesLimit: FileLimit;
  readonly ephemeralPorts: string;
}

export function machineInfo(): MachineInfo {
  let ports = 'unknown';
  try {
    ports = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().replace(/\s+/, '-');
  } catch {
    // not Linux
  }
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: os.release(),
    openFilesLimit: fileLimit(),
    ephemeralPorts: ports,
  };
}
