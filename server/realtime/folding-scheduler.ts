import type { PublicStock } from '../stock/types.js';
import { samePublicFace } from '../stock/views.js';

interface TopicFold {
  /** Newest accepted value (the node-local latest-value cache). */
  latest: PublicStock;
  /** Last value pushed to the topic's subscribers (or the seed they got in their snapshots). */
  pushed: PublicStock | undefined;
  /** A newer value arrived inside the open window and waits for the trailing push. */
  dirty: boolean;
  timer: NodeJS.Timeout | undefined;
  /**
   * What the last push cost the event loop: its own time plus how late the window's timer fired (uWS
   * does much of a large publish's socket work after publish() returns). 20,000 subscribers cost real time.
   */
  pushCostMs: number;
}

/**
 * A window lasts at least this many times its topic's last push, so pushing one hot topic takes at
 * most about a quarter of the event loop and the API beside it (ROLE=all) keeps answering.
 */
const WINDOW_PER_PUSH_TIME = 3;

/**
 * Latest-value folding per topic. The first change is pushed at once and opens a window of
 * `intervalMs`; changes inside it only replace the pending value, pushed once when the window
 * closes (which opens the next window). Versions never go backwards (older or equal ones are
 * dropped), and a value whose public face equals the last pushed one sends nothing: a hidden count
 * that moved is not news. A push so large that the window would be mostly pushing stretches the
 * window (WINDOW_PER_PUSH_TIME): subscribers still converge on the newest value, only less often.
 */
export class FoldingScheduler {
  private readonly topics = new Map<string, TopicFold>();

  constructor(
    private readonly intervalMs: number,
    private readonly push: (topic: string, view: PublicStock) => void,
    /** Told of every accepted change that got no push of its own (replaced inside a window, or no news). */
    private readonly onFolded: () => void = () => {},
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Offers a value; returns true when it was newer than what the topic had. */
  offer(topic: string, view: PublicStock): boolean {
    const fold = this.topics.get(topic);
    if (fold === undefined) {
      // The first value a node learns of a topic is what its subscribers get in their snapshot.
      this.topics.set(topic, { latest: view, pushed: view, dirty: false, timer: undefined, pushCostMs: 0 });
      return true;
    }
    if (view.version <= fold.latest.version) return false;
    fold.latest = view;
    if (this.intervalMs === 0) {
      if (!this.pushIfNews(topic, fold)) this.onFolded();
    } else if (fold.timer === undefined) {
      if (this.pushIfNews(topic, fold)) this.openWindow(topic, fold);
      else this.onFolded();
    } else {
      // The pending value (if any) is replaced, or this one is: either way one change folds away.
      if (fold.dirty) this.onFolded();
      fold.dirty = true;
    }
    return true;
  }

  latest(topic: string): PublicStock | undefined {
    return this.topics.get(topic)?.latest;
  }

  /** The topic has no subscribers left on this node. */
  forget(topic: string): void {
    const fold = this.topics.get(topic);
    if (fold === undefined) return;
    clearTimeout(fold.timer);
    this.topics.delete(topic);
  }

  close(): void {
    for (const fold of this.topics.values()) clearTimeout(fold.timer);
    this.topics.clear();
  }

  private openWindow(topic: string, fold: TopicFold): void {
    const delay = Math.max(this.intervalMs, WINDOW_PER_PUSH_TIME * fold.pushCostMs);
    const due = this.now() + delay;
    fold.timer = setTimeout(() => {
      fold.timer = undefined;
      if (!fold.dirty || this.topics.get(topic) !== fold) return;
      fold.dirty = false;
      const late = Math.max(0, this.now() - due);
      if (this.pushIfNews(topic, fold)) {
        fold.pushCostMs += late;
        this.openWindow(topic, fold);
      } else this.onFolded();
    }, delay);
  }

  private pushIfNews(topic: string, fold: TopicFold): boolean {
    if (fold.pushed !== undefined && samePublicFace(fold.pushed, fold.latest)) return false;
    fold.pushed = fold.latest;
    const started = this.now();
    this.push(topic, fold.latest);
    fold.pushCostMs = this.now() - started;
    return true;
  }
}
