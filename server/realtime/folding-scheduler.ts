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
}

/**
 * Latest-value folding per topic. The first change is pushed at once and opens a window of
 * `intervalMs`; changes inside it only replace the pending value, pushed once when the window
 * closes (which opens the next window). Versions never go backwards (older or equal ones are
 * dropped), and a value whose public face equals the last pushed one sends nothing: a hidden count
 * that moved is not news.
 */
export class FoldingScheduler {
  private readonly topics = new Map<string, TopicFold>();

  constructor(
    private readonly intervalMs: number,
    private readonly push: (topic: string, view: PublicStock) => void,
    /** Told of every accepted change that got no push of its own (replaced inside a window, or no news). */
    private readonly onFolded: () => void = () => {},
  ) {}

  /** Offers a value; returns true when it was newer than what the topic had. */
  offer(topic: string, view: PublicStock): boolean {
    const fold = this.topics.get(topic);
    if (fold === undefined) {
      // The first value a node learns of a topic is what its subscribers get in their snapshot.
      this.topics.set(topic, { latest: view, pushed: view, dirty: false, timer: undefined });
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
    fold.timer = setTimeout(() => {
      fold.timer = undefined;
      if (!fold.dirty || this.topics.get(topic) !== fold) return;
      fold.dirty = false;
      if (this.pushIfNews(topic, fold)) this.openWindow(topic, fold);
      else this.onFolded();
    }, this.intervalMs);
  }

  private pushIfNews(topic: string, fold: TopicFold): boolean {
    if (fold.pushed !== undefined && samePublicFace(fold.pushed, fold.latest)) return false;
    fold.pushed = fold.latest;
    this.push(topic, fold.latest);
    return true;
  }
}
