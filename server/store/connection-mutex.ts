/**
 * A FIFO lock around the one PGlite connection. Kysely holds a connection for a whole transaction,
 * so holding this lock from acquire to release keeps transactions from interleaving on it.
 */
export class ConnectionMutex {
  #locked = false;
  readonly #waiters: Array<() => void> = [];

  async lock(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  unlock(): void {
    const next = this.#waiters.shift();
    // Hand the lock straight to the next waiter, so a newcomer cannot jump the queue.
    if (next) next();
    else this.#locked = false;
  }
}
