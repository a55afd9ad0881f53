// The addresses kubenet gave each pod (from its CNI ADD, or read back from its netns), kept in
// memory for status, teardown and gc; a restarted daemon starts empty and falls back to the leases.
export class PodIPs {
  private readonly bySandbox = new Map<string, Set<string>>();

  add(sandboxID: string, ip: string): void {
    let s = this.bySandbox.get(sandboxID);
    if (!s) {
      s = new Set();
      this.bySandbox.set(sandboxID, s);
    }
    s.add(ip);
  }

  remove(sandboxID: string, ip: string): void {
    const s = this.bySandbox.get(sandboxID);
    if (!s) return;
    s.delete(ip);
    if (s.size === 0) this.bySandbox.delete(sandboxID);
  }

  /** undefined when none are known. */
  get(sandboxID: string): string[] | undefined {
    const s = this.bySandbox.get(sandboxID);
    return s ? [...s] : undefined;
  }

  /** Forgets the sandboxes not in `live`. */
  keepOnly(live: ReadonlySet<string>): void {
    for (const id of [...this.bySandbox.keys()]) if (!live.has(id)) this.bySandbox.delete(id);
  }
}
