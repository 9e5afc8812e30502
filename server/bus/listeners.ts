import type { ComponentLogger } from './stock-bus.js';

/**
 * Calls every listener with the value. A listener's failure is its own: it is logged (when a logger
 * is given) and the other listeners still get the value.
 */
export function deliver<T>(listeners: Iterable<(value: T) => void>, value: T, logger?: ComponentLogger, what = 'bus listener'): void {
  for (const listener of listeners) {
    try {
      listener(value);
    } catch (error) {
      logger?.error({ err: error instanceof Error ? error.message : String(error) }, `${what} failed`);
    }
  }
}
