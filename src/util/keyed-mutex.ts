// The one in-process lock of the code base: a mutex per key over promise chains. Holders of one key
// run one at a time, in the order they asked; different keys run in parallel; a key nobody holds or
// waits for takes no memory. Used for the pod lifecycle (netmgr/sandbox/runtime.ts), the plugin calls of one
// pod (netmgr/core/manager.ts), the hostport rules of a family (netmgr/plugins/kubenet/hostport.ts),
// host-local's in-process lock and the cluster agent's route programming (cluster/agent.ts).
// Nothing here can deadlock by itself; a holder that never releases blocks its key.

interface Entry {
  /** Settles when the last holder or waiter so far releases. Never rejects. */
  tail: Promise<void>;
  /** Holders and waiters. */
  refs: number;
}

export class KeyedMutex<K = string> {
  private readonly entries = new Map<K, Entry>();

  /**
   * Waits for `key`, then holds it until the returned function is called (later calls do nothing).
   * Waiters are served in arrival order.
   */
  acquire(key: K): Promise<() => void> {
    let e = this.entries.get(key);
    if (!e) {
      e = { tail: Promise.resolve(), refs: 0 };
      this.entries.set(key, e);
    }
    const entry = e;
    entry.refs++;
    const prev = entry.tail;
    let release!: () => void;
    entry.tail = new Promise<void>((r) => (release = r));
    let held = true;
    const unlock = () => {
      if (!held) return;
      held = false;
      release();
      if (--entry.refs === 0 && this.entries.get(key) === entry) this.entries.delete(key);
    };
    return prev.then(() => unlock);
  }

  /** Runs `fn` holding `key`; the key is released however `fn` ends. */
  async run<T>(key: K, fn: () => Promise<T> | T): Promise<T> {
    const unlock = await this.acquire(key);
    try {
      return await fn();
    } finally {
      unlock();
    }
  }

  /** Whether `key` is held or waited for. */
  busy(key: K): boolean {
    return this.entries.has(key);
  }

  /** Keys with a holder or waiters. */
  get size(): number {
    return this.entries.size;
  }
}

/** A single lock: a KeyedMutex with one key. */
export class Mutex {
  private readonly m = new KeyedMutex<0>();

  acquire(): Promise<() => void> {
    return this.m.acquire(0);
  }

  run<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.m.run(0, fn);
  }

  get busy(): boolean {
    return this.m.busy(0);
  }
}
