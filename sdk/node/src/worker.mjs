// Runs the messages of one subscription with at most `max` at a time and at most `maxPending`
// waiting, so that a slow handler costs bounded memory: NATS pushes messages as they come (a
// callback subscription buffers nothing), and what exceeds both bounds goes to `overflow`.
export class Worker {
  constructor({ max, maxPending, run, overflow }) {
    this.max = max;
    this.maxPending = maxPending;
    this.run = run;
    this.overflow = overflow;
    this.inflight = 0;
    this.queue = [];
    this.idleWaiters = [];
  }

  push(item) {
    if (this.inflight < this.max) {
      this.start(item);
    } else if (this.queue.length < this.maxPending) {
      this.queue.push(item);
    } else {
      this.overflow(item);
    }
  }

  start(item) {
    this.inflight++;
    // run() catches its own errors; the catch here only keeps a bug from becoming an
    // unhandled rejection.
    Promise.resolve()
      .then(() => this.run(item))
      .catch(() => {})
      .finally(() => {
        this.inflight--;
        if (this.queue.length > 0) {
          this.start(this.queue.shift());
        } else if (this.inflight === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of waiters) w();
        }
      });
  }

  get idle() {
    return this.inflight === 0 && this.queue.length === 0;
  }

  // Resolves once nothing runs and nothing waits.
  whenIdle() {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
