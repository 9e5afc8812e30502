/**
 * Open sockets per client IP, for `WS_MAX_CONNECTIONS_PER_IP`. The gateway takes a place with
 * `add(ip, 1, max)` when it upgrades and gives it back with `add(ip, -1)` on close; both must stay
 * cheap and synchronous. Taking a place is one step, so upgrades on several threads at once never
 * pass the limit together.
 */
export interface ConnectionCounter {
  count(ip: string): number;
  /** False (and nothing counted) when adding one would pass `max`; 0 is no limit. */
  add(ip: string, delta: 1 | -1, max?: number): boolean;
}

/** One thread's sockets: a plain map. */
export class LocalConnectionCounter implements ConnectionCounter {
  private readonly counts = new Map<string, number>();

  count(ip: string): number {
    return this.counts.get(ip) ?? 0;
  }

  add(ip: string, delta: 1 | -1, max = 0): boolean {
    const current = this.counts.get(ip) ?? 0;
    if (delta > 0 && max > 0 && current >= max) return false;
    const next = current + delta;
    if (next > 0) this.counts.set(ip, next);
    else this.counts.delete(ip);
    return true;
  }
}

/** Slots per bucket: a bucket holds this many distinct IPs (a full bucket stops counting new ones). */
const SLOTS = 8;
/** Int32 words per bucket: a lock, then per slot the two halves of the IP's 64-bit fingerprint and its count. */
const BUCKET_WORDS = 1 + SLOTS * 3;

/**
 * Sockets per IP counted across the realtime threads of one process, in a SharedArrayBuffer every
 * thread maps: the upgrade decision stays a synchronous read of shared memory, with no round trip to
 * the main thread. IPs hash to buckets of `SLOTS` (64-bit fingerprint, count) pairs; each bucket has
 * a spin lock held for a few dozen instructions only, never across an `await`. 16,384 buckets hold
 * 131,072 IPs in 1.6 MiB; an IP arriving at a full bucket is not counted (fails open), which needs
 * nine busy IPs hashing to one bucket.
 */
export class SharedConnectionCounter implements ConnectionCounter {
  private readonly words: Int32Array;
  private readonly buckets: number;

  /** `buffer` from `SharedConnectionCounter.allocate()`, passed to every thread. */
  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
    this.buckets = this.words.length / BUCKET_WORDS;
  }

  static allocate(buckets = 16_384): SharedArrayBuffer {
    return new SharedArrayBuffer(buckets * BUCKET_WORDS * Int32Array.BYTES_PER_ELEMENT);
  }

  count(ip: string): number {
    const [hi, lo] = fingerprint(ip);
    return this.locked(hi, (base) => {
      const slot = this.find(base, hi, lo);
      return slot < 0 ? 0 : this.words[slot + 2]!;
    });
  }

  add(ip: string, delta: 1 | -1, max = 0): boolean {
    const [hi, lo] = fingerprint(ip);
    const added = this.locked(hi, (base) => {
      const w = this.words;
      let slot = this.find(base, hi, lo);
      if (slot < 0) {
        if (delta < 0) return 1;
        slot = this.find(base, 0, 0);
        if (slot < 0) return 1;
        w[slot] = hi;
        w[slot + 1] = lo;
        w[slot + 2] = 0;
      }
      const current = w[slot + 2]!;
      if (delta > 0 && max > 0 && current >= max) return 0;
      const next = current + delta;
      if (next > 0) {
        w[slot + 2] = next;
      } else {
        w[slot] = 0;
        w[slot + 1] = 0;
        w[slot + 2] = 0;
      }
      return 1;
    });
    return added === 1;
  }

  /** The slot holding (hi, lo) in the bucket at `base`, or -1; (0, 0) finds a free slot. */
  private find(base: number, hi: number, lo: number): number {
    for (let s = 0; s < SLOTS; s++) {
      const slot = base + 1 + s * 3;
      if (this.words[slot] === hi && this.words[slot + 1] === lo) return slot;
    }
    return -1;
  }

  private locked(hi: number, body: (base: number) => number): number {
    const base = (Math.abs(hi) % this.buckets) * BUCKET_WORDS;
    // Spin: the holder is another thread inside a few array reads, never waiting on anything.
    while (Atomics.compareExchange(this.words, base, 0, 1) !== 0);
    try {
      return body(base);
    } finally {
      Atomics.store(this.words, base, 0);
    }
  }
}

/** FNV-1a over the string, twice with different offsets: 64 bits, never (0, 0) (that marks a free slot). */
function fingerprint(ip: string): [number, number] {
  let hi = 0x811c9dc5 | 0;
  let lo = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    hi = Math.imul(hi ^ c, 0x01000193);
    lo = Math.imul(lo ^ c, 0x01000193 + 2);
  }
  if (hi === 0 && lo === 0) lo = 1;
  return [hi, lo];
}
