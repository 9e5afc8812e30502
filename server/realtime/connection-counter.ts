/**
 * What each client IP holds and spends on the realtime port: its open sockets
 * (`WS_MAX_CONNECTIONS_PER_IP`), its budget of new subscriptions and snapshot reads this second
 * (`WS_MAX_NEW_SUBSCRIPTIONS_PER_IP_PER_SECOND`), and how long its new sockets must wait after one
 * of its connections was closed for abuse (`WS_ABUSE_WAIT_SECONDS`). The gateway calls these on
 * upgrades and frames, so every one is cheap and synchronous.
 */
export interface ConnectionCounter {
  count(ip: string): number;
  /**
   * Takes (`1`) or gives back (`-1`) one of the IP's socket places. Taking is one step with the check
   * against `max` (0: no limit), so upgrades on several threads at once never pass it together;
   * false, counting nothing, when the IP already holds `max`.
   */
  add(ip: string, delta: 1 | -1, max?: number): boolean;
  /**
   * Spends `cost` of the IP's budget of `perSecond` in the current second; false, spending
   * nothing, when that would go over it.
   */
  spend(ip: string, cost: number, perSecond: number, now?: number): boolean;
  /** True when the IP has nothing of its budget of `perSecond` left this second. */
  spent(ip: string, perSecond: number, now?: number): boolean;
  /** The IP's new sockets are refused until `until` (ms since the epoch). */
  holdOff(ip: string, until: number, now?: number): void;
  /** Whole seconds the IP's new sockets must still wait; 0: none. */
  waitSeconds(ip: string, now?: number): number;
}

/** Slots per bucket: a bucket holds this many distinct IPs (a full bucket stops counting new ones). */
const SLOTS = 8;
/** Numbers per slot: the two halves of the IP's 64-bit fingerprint, then its state (times in ms since the epoch). */
const SLOT_WORDS = 6;
const [HI, LO, SOCKETS, BUDGET_START, BUDGET_USED, WAIT_UNTIL] = [0, 1, 2, 3, 4, 5] as const;
/** A budget is spent within one second from its first use (as REST's windows are). */
const BUDGET_WINDOW_MS = 1000;

/**
 * The per-IP table in a SharedArrayBuffer every realtime thread maps: the decisions stay a
 * synchronous read of shared memory, with no round trip to the main thread, and an IP's limits hold
 * for the whole process however the kernel spreads its sockets over threads. IPs hash to buckets of
 * `SLOTS`; each bucket has a spin lock (an Int32 of its own) held for a few dozen instructions only,
 * never across an `await`. A slot is reused once its IP has no sockets, no budget window open and no
 * wait left. 8,192 buckets hold 65,536 IPs in 3.2 MiB; an IP arriving at a full bucket is not
 * counted or limited (fails open), which needs nine busy IPs hashing to one bucket.
 */
export class SharedConnectionCounter implements ConnectionCounter {
  private readonly locks: Int32Array;
  private readonly slots: Float64Array;

  /** `buffer` from `SharedConnectionCounter.allocate()`, passed to every thread. */
  constructor(buffer: SharedArrayBuffer) {
    const buckets = Math.floor(buffer.byteLength / bucketBytes());
    this.locks = new Int32Array(buffer, 0, buckets);
    this.slots = new Float64Array(buffer, lockBytes(buckets), buckets * SLOTS * SLOT_WORDS);
  }

  static allocate(buckets = 8192): SharedArrayBuffer {
    return new SharedArrayBuffer(lockBytes(buckets) + buckets * SLOTS * SLOT_WORDS * Float64Array.BYTES_PER_ELEMENT);
  }

  count(ip: string): number {
    return this.read(ip, (slot) => this.slots[slot + SOCKETS]!);
  }

  add(ip: string, delta: 1 | -1, max = 0): boolean {
    const change = (slot: number) => {
      const sockets = this.slots[slot + SOCKETS]!;
      if (delta > 0 && max > 0 && sockets >= max) return 0;
      this.slots[slot + SOCKETS] = Math.max(0, sockets + delta);
      return 1;
    };
    // Closing never takes a slot: an IP without one has no sockets counted.
    if (delta < 0) {
      this.read(ip, change);
      return true;
    }
    // A full bucket (-1) fails open, as the budgets do.
    return this.write(ip, Date.now(), change) !== 0;
  }

  spend(ip: string, cost: number, perSecond: number, now = Date.now()): boolean {
    const result = this.write(ip, now, (slot) => {
      const s = this.slots;
      if (now - s[slot + BUDGET_START]! >= BUDGET_WINDOW_MS) {
        s[slot + BUDGET_START] = now;
        s[slot + BUDGET_USED] = 0;
      }
      if (s[slot + BUDGET_USED]! + cost > perSecond) return 0;
      s[slot + BUDGET_USED] = s[slot + BUDGET_USED]! + cost;
      return 1;
    });
    // A full bucket fails open: the IP is not limited rather than refused for another's sake.
    return result !== 0;
  }

  spent(ip: string, perSecond: number, now = Date.now()): boolean {
    const s = this.slots;
    return this.read(ip, (slot) => (now - s[slot + BUDGET_START]! < BUDGET_WINDOW_MS && s[slot + BUDGET_USED]! >= perSecond ? 1 : 0)) === 1;
  }

  holdOff(ip: string, until: number, now = Date.now()): void {
    this.write(ip, now, (slot) => {
      this.slots[slot + WAIT_UNTIL] = Math.max(this.slots[slot + WAIT_UNTIL]!, until);
      return 0;
    });
  }

  waitSeconds(ip: string, now = Date.now()): number {
    return this.read(ip, (slot) => Math.max(0, Math.ceil((this.slots[slot + WAIT_UNTIL]! - now) / 1000)));
  }

  /** `body` on the IP's slot (under its bucket's lock); 0 when the IP has none. */
  private read(ip: string, body: (slot: number) => number): number {
    const [hi, lo] = fingerprint(ip);
    return this.locked(hi, (bucket) => {
      const slot = this.find(bucket, hi, lo);
      return slot < 0 ? 0 : body(slot);
    });
  }

  /** `body` on the IP's slot, taking a free one for a new IP; -1 when its bucket is full. */
  private write(ip: string, now: number, body: (slot: number) => number): number {
    const [hi, lo] = fingerprint(ip);
    return this.locked(hi, (bucket) => {
      let slot = this.find(bucket, hi, lo);
      if (slot < 0) {
        slot = this.free(bucket, now);
        if (slot < 0) return -1;
        this.slots.fill(0, slot, slot + SLOT_WORDS);
        this.slots[slot + HI] = hi;
        this.slots[slot + LO] = lo;
      }
      return body(slot);
    });
  }

  /** The slot holding (hi, lo) in the bucket, or -1. */
  private find(bucket: number, hi: number, lo: number): number {
    for (let i = 0; i < SLOTS; i++) {
      const slot = (bucket * SLOTS + i) * SLOT_WORDS;
      if (this.slots[slot + HI] === hi && this.slots[slot + LO] === lo) return slot;
    }
    return -1;
  }

  /** A slot no IP needs any more: no sockets, no budget window open and no wait left (a never-used one is all zeros). */
  private free(bucket: number, now: number): number {
    const s = this.slots;
    for (let i = 0; i < SLOTS; i++) {
      const slot = (bucket * SLOTS + i) * SLOT_WORDS;
      if (s[slot + SOCKETS] === 0 && now - s[slot + BUDGET_START]! >= BUDGET_WINDOW_MS && s[slot + WAIT_UNTIL]! <= now) return slot;
    }
    return -1;
  }

  private locked(hi: number, body: (bucket: number) => number): number {
    const bucket = Math.abs(hi) % this.locks.length;
    // Spin: the holder is another thread inside a few array reads, never waiting on anything.
    while (Atomics.compareExchange(this.locks, bucket, 0, 1) !== 0);
    try {
      return body(bucket);
    } finally {
      Atomics.store(this.locks, bucket, 0);
    }
  }
}

/** Bytes of the locks, rounded up so the Float64 slots after them are aligned. */
function lockBytes(buckets: number): number {
  return Math.ceil((buckets * Int32Array.BYTES_PER_ELEMENT) / 8) * 8;
}

/** Bytes per bucket (the buffer may hold 4 more, aligning the slots). */
function bucketBytes(): number {
  return Int32Array.BYTES_PER_ELEMENT + SLOTS * SLOT_WORDS * Float64Array.BYTES_PER_ELEMENT;
}

/** One thread's sockets (WS_THREADS=1): the same table, in memory of its own. */
export class LocalConnectionCounter extends SharedConnectionCounter {
  constructor(buckets = 2048) {
    super(SharedConnectionCounter.allocate(buckets));
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
