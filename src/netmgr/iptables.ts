// iptables as the kubelet drives it (pkg/util/iptables): ensure a chain, ensure a rule (check, then
// append or insert), save a table, restore with --noflush --counters. Rules are argument lists; the
// comments stay byte-exact so rules written by a Go kubelet are recognised and never duplicated.
// An in-memory fake with the same semantics sits beside it.
import { ExecError, type Exec } from "../kernel/exec.js";

export type Table = "nat" | "filter" | "mangle" | "raw";
export type RulePosition = "append" | "prepend";

export interface IPTables {
  readonly ipv6: boolean;
  /** `iptables -w -t T -N C`; true when it already existed. */
  ensureChain(table: Table, chain: string): Promise<boolean>;
  /** `iptables -w -t T -C C ARGS…`, then `-A`/`-I` when absent; true when it already existed. */
  ensureRule(position: RulePosition, table: Table, chain: string, args: readonly string[]): Promise<boolean>;
  /** `iptables -w -t T -D C ARGS…`; no error when absent. */
  deleteRule(table: Table, chain: string, args: readonly string[]): Promise<void>;
  /** `iptables-save -t T` */
  save(table: Table): Promise<string>;
  /** `iptables-restore -w --noflush --counters` with the payload on stdin. */
  restore(payload: string): Promise<void>;
  /**
   * The same restore, started now (its process start-up overlaps whatever the caller does next)
   * with the payload given later. Exactly one of commit/cancel must be called (cancel: an empty,
   * no-op restore).
   */
  startRestore?(): PendingRestore;
  /** Starts the spare restore process now (see createIPTables' spareRestore), if there is none. */
  warmRestore?(): void;
  /** Ends a spare restore process that is waiting for input. */
  close?(): void;
}

export interface PendingRestore {
  commit(payload: string): Promise<void>;
  cancel(): void;
}

/** Quotes one argument the way iptables-save prints it (double quotes around anything with spaces). */
export function quoteArg(a: string): string {
  return /[\s"]/.test(a) || a === "" ? `"${a.replace(/(["\\])/g, "\\$1")}"` : a;
}

export const ruleText = (args: readonly string[]): string => args.map(quoteArg).join(" ");

export interface IPTablesOptions {
  /**
   * Keep one `iptables-restore` started and waiting for its input, and use it for the next
   * restore: starting a process from the daemon blocks it ~3-5 ms (fork + exec of a big process,
   * which also stalls its other threads), and that is then paid between pod operations instead of
   * in one. A waiting restore holds no lock and reads the ruleset only once it has its input.
   */
  readonly spareRestore?: boolean;
}

export function createIPTables(exec: Exec, ipv6 = false, opts: IPTablesOptions = {}): IPTables {
  const bin = ipv6 ? "ip6tables" : "iptables";
  const run = (args: string[], stdin?: string | PromiseLike<string>) =>
    exec.run([args[0]!, ...args.slice(1)], stdin === undefined ? {} : typeof stdin === "string" ? { stdin } : { deferredStdin: stdin });
  const exitCode = (e: unknown) => (e instanceof ExecError ? e.exitCode : null);
  let spare: PendingRestore | undefined;
  let closed = false;
  return {
    ipv6,
    async ensureChain(table, chain) {
      try {
        await run([bin, "-w", "-t", table, "-N", chain]);
        return false;
      } catch (e) {
        // exit status 1: "Chain already exists" (the kubelet's own test)
        if (exitCode(e) === 1) return true;
        throw e;
      }
    },
    async ensureRule(position, table, chain, args) {
      try {
        await run([bin, "-w", "-t", table, "-C", chain, ...args]);
        return true;
      } catch (e) {
        if (exitCode(e) !== 1) throw e;
      }
      await run([bin, "-w", "-t", table, position === "append" ? "-A" : "-I", chain, ...args]);
      return false;
    },
    async deleteRule(table, chain, args) {
      try {
        await run([bin, "-w", "-t", table, "-C", chain, ...args]);
      } catch (e) {
        if (exitCode(e) === 1) return;
        throw e;
      }
      await run([bin, "-w", "-t", table, "-D", chain, ...args]);
    },
    save: (table) => run([`${bin}-save`, "-t", table]),
    async restore(payload) {
      await take().commit(payload);
    },
    startRestore: () => take(),
    warmRestore: refill,
    close() {
      closed = true;
      spare?.cancel();
      spare = undefined;
    },
  };

  function launch(): PendingRestore {
    let give!: (payload: string) => void;
    const done = run([`${bin}-restore`, "-w", "--noflush", "--counters"], new Promise<string>((r) => (give = r)));
    done.catch(() => {}); // reported to commit(); a cancelled (empty) restore has nothing to report
    let settled = false;
    return {
      async commit(payload) {
        if (settled) throw new Error("iptables-restore: payload already given");
        settled = true;
        give(payload);
        await done;
      },
      cancel() {
        if (settled) return;
        settled = true;
        give("");
      },
    };
  }

  function refill(): void {
    if (opts.spareRestore && !closed && !spare) spare = launch();
  }

  /** The spare restore (or a new one); a new spare is started once this one has been used. */
  function take(): PendingRestore {
    const p = spare ?? launch();
    spare = undefined;
    let used = false;
    const after = () => {
      if (used) return;
      used = true;
      if (opts.spareRestore) setImmediate(refill); // after this operation's own callbacks
    };
    return {
      commit: (payload) => p.commit(payload).finally(after),
      cancel() {
        p.cancel();
        after();
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Fake

const BUILTIN: Record<Table, string[]> = {
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  filter: ["INPUT", "FORWARD", "OUTPUT"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  raw: ["PREROUTING", "OUTPUT"],
};

export interface FakeIPTables extends IPTables {
  /** table → chain → rule texts (args quoted as iptables-save prints them) */
  readonly tables: Map<Table, Map<string, string[]>>;
  /** Every restore payload, in order. */
  readonly restores: string[];
  /** startRestore() calls, and how each ended. */
  readonly started: Array<"pending" | "committed" | "cancelled">;
  /** `-A CHAIN rule` lines of a table, in chain order (builtin chains first). */
  rules(table: Table): string[];
  /** Makes the next `times` operations whose description contains `match` fail. */
  failOn(match: string, times?: number): void;
}

/** Splits a rule line as a shell would for iptables-restore (double quotes group). */
export function splitRuleLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inQ = false;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (inQ) {
      if (c === "\\" && i + 1 < line.length) cur += line[++i];
      else if (c === '"') inQ = false;
      else cur += c;
    } else if (c === '"') {
      inQ = true;
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

export function createFakeIPTables(ipv6 = false): FakeIPTables {
  const tables = new Map<Table, Map<string, string[]>>();
  const restores: string[] = [];
  const started: FakeIPTables["started"] = [];
  const failures: Array<{ match: string; times: number }> = [];
  const tbl = (t: Table) => {
    let m = tables.get(t);
    if (!m) {
      m = new Map(BUILTIN[t].map((c) => [c, [] as string[]]));
      tables.set(t, m);
    }
    return m;
  };
  const maybeFail = (what: string) => {
    for (const f of failures) {
      if (f.times > 0 && what.includes(f.match)) {
        f.times--;
        throw new ExecError([what], 2, "", `iptables: injected failure (${what})`);
      }
    }
  };
  const chainOf = (t: Table, c: string) => {
    const r = tbl(t).get(c);
    if (!r) throw new ExecError([c], 1, "", `iptables: No chain/target/match by that name.`);
    return r;
  };
  const save = (t: Table): string => {
    const lines = [`*${t}`];
    const m = tbl(t);
    for (const c of m.keys()) lines.push(BUILTIN[t].includes(c) ? `:${c} ACCEPT [0:0]` : `:${c} - [0:0]`);
    for (const [c, rules] of m) for (const r of rules) lines.push(`-A ${c} ${r}`);
    lines.push("COMMIT");
    return lines.join("\n") + "\n";
  };
  const fake: FakeIPTables = {
    ipv6,
    tables,
    restores,
    started,
    startRestore() {
      const i = started.push("pending") - 1;
      return {
        commit(payload) {
          if (started[i] !== "pending") return Promise.reject(new Error("iptables-restore: payload already given"));
          started[i] = "committed";
          return fake.restore(payload);
        },
        cancel() {
          if (started[i] === "pending") started[i] = "cancelled";
        },
      };
    },
    failOn(match, times = 1) {
      failures.push({ match, times });
    },
    rules(t) {
      const out: string[] = [];
      for (const [c, rules] of tbl(t)) for (const r of rules) out.push(`-A ${c} ${r}`);
      return out;
    },
    async ensureChain(t, c) {
      maybeFail(`-t ${t} -N ${c}`);
      if (tbl(t).has(c)) return true;
      tbl(t).set(c, []);
      return false;
    },
    async ensureRule(pos, t, c, args) {
      maybeFail(`-t ${t} ${pos === "append" ? "-A" : "-I"} ${c} ${ruleText(args)}`);
      const rules = chainOf(t, c);
      const text = ruleText(args);
      if (rules.includes(text)) return true;
      if (pos === "append") rules.push(text);
      else rules.unshift(text);
      return false;
    },
    async deleteRule(t, c, args) {
      maybeFail(`-t ${t} -D ${c} ${ruleText(args)}`);
      const rules = tbl(t).get(c);
      if (!rules) return;
      const i = rules.indexOf(ruleText(args));
      if (i >= 0) rules.splice(i, 1);
    },
    async save(t) {
      maybeFail(`save -t ${t}`);
      return save(t);
    },
    async restore(payload) {
      maybeFail(`restore`);
      restores.push(payload);
      // Validate first, apply after: iptables-restore is one transaction.
      const work = new Map([...tables].map(([t, m]) => [t, new Map([...m].map(([c, r]) => [c, [...r]]))]));
      let cur: Map<string, string[]> | undefined;
      let curName: Table | undefined;
      for (const raw of payload.split("\n")) {
        const line = raw.trim();
        if (line === "" || line.startsWith("#")) continue;
        if (line.startsWith("*")) {
          curName = line.slice(1) as Table;
          if (!work.has(curName)) work.set(curName, new Map(BUILTIN[curName].map((c) => [c, [] as string[]])));
          cur = work.get(curName);
          continue;
        }
        if (!cur || !curName) throw new ExecError(["iptables-restore"], 2, "", `iptables-restore: line outside a table: ${line}`);
        if (line === "COMMIT") {
          cur = undefined;
          continue;
        }
        if (line.startsWith(":")) {
          const name = line.slice(1).split(/\s+/)[0]!;
          cur.set(name, []); // --noflush: a chain line creates or flushes the chain
          continue;
        }
        const args = splitRuleLine(line);
        const [op, chain, ...rest] = args;
        if (op === "-X") {
          if (!cur.has(chain!)) throw new ExecError(["iptables-restore"], 1, "", `iptables-restore: chain ${chain} does not exist`);
          cur.delete(chain!);
          continue;
        }
        const rules = cur.get(chain!);
        if (!rules) throw new ExecError(["iptables-restore"], 1, "", `iptables-restore: chain ${chain} does not exist`);
        const target = rest[rest.indexOf("-j") + 1];
        if (rest.includes("-j") && target && /^[A-Z][A-Z0-9-]+$/.test(target) && !["MASQUERADE", "DNAT", "SNAT", "ACCEPT", "DROP", "RETURN", "MARK", "REJECT"].includes(target) && !cur.has(target)) {
          throw new ExecError(["iptables-restore"], 2, "", `iptables-restore: Couldn't load target \`${target}'`);
        }
        const text = ruleText(rest);
        if (op === "-A") rules.push(text);
        else if (op === "-I") rules.unshift(text);
        else if (op === "-D") {
          const i = rules.indexOf(text);
          if (i < 0) throw new ExecError(["iptables-restore"], 1, "", `iptables-restore: line failed: Bad rule (does a matching rule exist in that chain?): ${line}`);
          rules.splice(i, 1);
        } else throw new ExecError(["iptables-restore"], 2, "", `iptables-restore: unsupported line ${line}`);
      }
      tables.clear();
      for (const [t, m] of work) tables.set(t, m);
    },
  };
  return fake;
}
