import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Realtime threads yield the CPU to the main thread, which answers the API: on a busy machine a sale
 * is answered first, and frames go out with the CPU left over. That costs the watchers little, as a
 * thread that waits for a core finds several changes queued and uWS writes each socket's frames of
 * one loop turn together, in one send (measured in benchmarks/results/RESULTS.md, "Realtime threads
 * yield to the API"). When the machine is not busy every thread gets a core at once and nothing waits.
 */

export type ThreadPriority = { readonly applied: true } | { readonly applied: false; readonly reason: string };

/**
 * Lowers the calling thread's CPU priority to `nice` (0–19, higher yields more). Linux only: there the
 * nice value belongs to each thread and `setpriority` takes a thread's id, read from /proc/thread-self.
 * Raising a thread's nice value needs no privilege.
 */
export function lowerThreadPriority(nice: number): ThreadPriority {
  if (process.platform !== 'linux') return { applied: false, reason: `thread priorities are per process on ${process.platform}` };
  try {
    // "<pid>/task/<tid>"
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isSafeInteger(threadId) || threadId <= 0) return { applied: false, reason: 'no thread id in /proc/thread-self' };
    setPriority(threadId, nice);
    return { applied: true };
  } catch (error) {
    return { applied: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
