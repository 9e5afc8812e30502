import type { FoldingSettings } from '../config.js';
import type { PublicStock } from '../stock/types.js';
import { samePublicFace } from '../stock/views.js';

interface TopicFold {
  /** Newest accepted value (the node-local latest-value cache). */
  latest: PublicStock;
  /** Last value pushed to the topic's subscribers (or the seed they got in their snapshots). */
  pushed: PublicStock | undefined;
  /** A newer value arrived inside the open window and waits for the trailing push. */
  dirty: boolean;
  /** When the pending value arrived (the topic is quiet once none newer came for `intervalMs`). */
  dirtyAt: number;
  timer: NodeJS.Timeout | undefined;
  /** When the open window ends, and how long it was opened for. */
  dueAt: number;
  windowMs: number;
  /** The open window may still push early because its topic went quiet (once: it then lasts a window more). */
  mayEndEarly: boolean;
  quietTimer: NodeJS.Timeout | undefined;
  /** Subscribers counted when the open window began: its share of the scheduler's frame budget. */
  windowSubscribers: number;
  /**
   * What the last push cost the event loop: its own time plus how late the window's timer fired (uWS
   * does much of a large publish's socket work after publish() returns). 20,000 subscribers cost real time.
   */
  pushCostMs: number;
}

/** What the scheduler calls out to: the push itself, and what it needs to know to size windows. */
export interface FoldingHooks {
  readonly push: (topic: string, view: PublicStock) => void;
  /** Sockets subscribed to the topic here now (one push sends each of them a frame). */
  readonly subscribers: (topic: string) => number;
  /** Told of every accepted change that got no push of its own (replaced inside a window, or no news). */
  readonly onFolded?: () => void;
  readonly now?: () => number;
}

/**
 * A window lasts at least this many times its topic's last push, so pushing one hot topic takes at
 * most about a quarter of the event loop and the API beside it (ROLE=all) keeps answering.
 */
const WINDOW_PER_PUSH_TIME = 3;

/**
 * Latest-value folding per topic. The first change is pushed at once and opens a window; changes
 * inside it only replace the pending value, pushed once when the window closes (which opens the
 * next window). Versions never go backwards (older or equal ones are dropped), and a value whose
 * public face equals the last pushed one sends nothing: a hidden count that moved is not news.
 *
 * A window lasts `intervalMs`, longer when its topics are crowded: the subscribers of every topic
 * with an open window share `threadFramesPerSecond`, so each window lasts (their sum) / (that rate).
 * A flash sale's product with 10,000 watchers then gets a few fresher frames a second instead of
 * ten, and the event loop (and the API beside it) keeps its time. A push so slow that the window
 * would be mostly pushing stretches it too (WINDOW_PER_PUSH_TIME). No window outlasts
 * `maxIntervalMs` (or `intervalMs`, if that is longer).
 *
 * A burst that ends inside a long window need not wait for it: once the topic has been quiet for
 * `intervalMs`, the pending value is pushed at once, and that window then lasts one window more, so
 * the topic still pushes at most once a window on average. When a flash sale stops, its watchers
 * hold the final stock about `intervalMs` later, not a long window later; while it goes on they get
 * a fresher value every window. A topic that already pushed early in its window waits for the end
 * (at most two windows).
 */
export class FoldingScheduler {
  private readonly topics = new Map<string, TopicFold>();
  /** Sum of `windowSubscribers` over the topics with an open window. */
  private openSubscribers = 0;
  private readonly longestMs: number;
  private readonly push: FoldingHooks['push'];
  private readonly subscribers: FoldingHooks['subscribers'];
  private readonly onFolded: () => void;
  private readonly now: () => number;

  constructor(
    private readonly settings: FoldingSettings,
    hooks: FoldingHooks,
  ) {
    this.longestMs = Math.max(settings.intervalMs, settings.maxIntervalMs);
    this.push = hooks.push;
    this.subscribers = hooks.subscribers;
    this.onFolded = hooks.onFolded ?? (() => {});
    this.now = hooks.now ?? (() => performance.now());
  }

  /** Offers a value; returns true when it was newer than what the topic had. */
  offer(topic: string, view: PublicStock): boolean {
    const fold = this.topics.get(topic);
    if (fold === undefined) {
      // The first value a node learns of a topic is what its subscribers get in their snapshot.
      this.topics.set(topic, {
        latest: view,
        pushed: view,
        dirty: false,
        dirtyAt: 0,
        timer: undefined,
        dueAt: 0,
        windowMs: 0,
        mayEndEarly: false,
        quietTimer: undefined,
        windowSubscribers: 0,
        pushCostMs: 0,
      });
      return true;
    }
    if (view.version <= fold.latest.version) return false;
    fold.latest = view;
    if (this.settings.intervalMs === 0) {
      if (!this.pushIfNews(topic, fold)) this.onFolded();
    } else if (fold.timer === undefined) {
      if (this.pushIfNews(topic, fold)) this.openWindow(topic, fold);
      else this.onFolded();
    } else {
      // The pending value (if any) is replaced, or this one is: either way one change folds away.
      if (fold.dirty) this.onFolded();
      fold.dirty = true;
      if (fold.mayEndEarly) {
        fold.dirtyAt = this.now();
        this.awaitQuiet(topic, fold, this.settings.intervalMs);
      }
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
    this.closeWindow(fold);
    this.topics.delete(topic);
  }

  close(): void {
    for (const fold of this.topics.values()) this.closeWindow(fold);
    this.topics.clear();
  }

  /** How long a window opened now for a topic with this many subscribers lasts. */
  private windowMs(subscribers: number, pushCostMs: number): number {
    const crowdedMs = (1000 * (this.openSubscribers + subscribers)) / this.settings.threadFramesPerSecond;
    const wanted = Math.max(this.settings.intervalMs, crowdedMs, WINDOW_PER_PUSH_TIME * pushCostMs);
    return Math.min(wanted, this.longestMs);
  }

  private openWindow(topic: string, fold: TopicFold): void {
    const subscribers = this.subscribers(topic);
    const delay = this.windowMs(subscribers, fold.pushCostMs);
    fold.windowSubscribers = subscribers;
    this.openSubscribers += subscribers;
    fold.windowMs = delay;
    // Only a window longer than the quiet time can gain by ending early.
    fold.mayEndEarly = delay > this.settings.intervalMs;
    this.endWindowIn(topic, fold, delay);
  }

  private endWindowIn(topic: string, fold: TopicFold, delay: number): void {
    fold.dueAt = this.now() + delay;
    fold.timer = setTimeout(() => {
      this.closeWindow(fold);
      if (!fold.dirty || this.topics.get(topic) !== fold) return;
      fold.dirty = false;
      const late = Math.max(0, this.now() - fold.dueAt);
      if (this.pushIfNews(topic, fold)) {
        fold.pushCostMs += late;
        this.openWindow(topic, fold);
      } else this.onFolded();
    }, delay);
  }

  /**
   * Pushes the pending value once the topic has been quiet for `intervalMs`, if the window may still
   * end early. One timer per window, moved on lazily rather than reset by every change.
   */
  private awaitQuiet(topic: string, fold: TopicFold, delay: number): void {
    if (fold.quietTimer !== undefined) return;
    fold.quietTimer = setTimeout(() => {
      fold.quietTimer = undefined;
      if (!fold.dirty || !fold.mayEndEarly || this.topics.get(topic) !== fold) return;
      const quietFor = this.now() - fold.dirtyAt;
      if (quietFor < this.settings.intervalMs) {
        this.awaitQuiet(topic, fold, this.settings.intervalMs - quietFor);
        return;
      }
      fold.dirty = false;
      if (!this.pushIfNews(topic, fold)) {
        this.onFolded();
        return;
      }
      // The push came early, so the window lasts one window more: on average one push a window.
      fold.mayEndEarly = false;
      clearTimeout(fold.timer);
      this.endWindowIn(topic, fold, Math.max(0, fold.dueAt - this.now()) + fold.windowMs);
    }, delay);
  }

  private closeWindow(fold: TopicFold): void {
    if (fold.timer === undefined) return;
    clearTimeout(fold.timer);
    fold.timer = undefined;
    clearTimeout(fold.quietTimer);
    fold.quietTimer = undefined;
    fold.mayEndEarly = false;
    this.openSubscribers -= fold.windowSubscribers;
    fold.windowSubscribers = 0;
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
