// The in-memory IPTables (knftables' fake, for iptables): the same interface as createIPTables,
// tables held as chain → rule texts (ruleText's spelling), `dump()` in iptables-save syntax, and
// the real module's error class with iptables' exit statuses and words. A restore is one
// transaction here too: every line is checked before anything changes.
import {
  IptablesError,
  parseSave,
  ruleText,
  splitRule,
  type IPTables,
  type PendingRestore,
  type Table,
} from "./iptables.js";

const BUILTIN: Record<Table, readonly string[]> = {
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  filter: ["INPUT", "FORWARD", "OUTPUT"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  raw: ["PREROUTING", "OUTPUT"],
};

/** Targets that are not chains (a `-j` to anything else must name an existing chain). */
const TARGETS = new Set([
  "ACCEPT",
  "DROP",
  "RETURN",
  "REJECT",
  "MASQUERADE",
  "DNAT",
  "SNAT",
  "MARK",
  "LOG",
  "NFLOG",
  "CT",
  "NOTRACK",
  "REDIRECT",
  "CONNMARK",
]);

export interface FakeIPTables extends IPTables {
  /** table → chain → rule texts (ruleText's spelling: as iptables-save prints them) */
  readonly tables: Map<Table, Map<string, string[]>>;
  /** Every restore payload, in order. */
  readonly restores: string[];
  /** startRestore() calls, and how each ended. */
  readonly started: Array<"pending" | "committed" | "cancelled">;
  /** `-A CHAIN rule` lines of a table, in chain order (built-in chains first). */
  rules(table: Table): string[];
  /** The tables (or one) as `iptables-save` prints them. */
  dump(table?: Table): string;
  /** Makes the next `times` operations whose description contains `match` fail (exit status 2). */
  failOn(match: string, times?: number): void;
}

export function createFakeIPTables(ipv6 = false): FakeIPTables {
  const bin = ipv6 ? "ip6tables" : "iptables";
  const tables = new Map<Table, Map<string, string[]>>();
  const restores: string[] = [];
  const started: FakeIPTables["started"] = [];
  const failures: Array<{ match: string; times: number }> = [];
  const fresh = (t: Table) => new Map<string, string[]>(BUILTIN[t].map((c) => [c, []]));
  const tbl = (t: Table) => {
    let m = tables.get(t);
    if (!m) {
      m = fresh(t);
      tables.set(t, m);
    }
    return m;
  };
  const maybeFail = (argv: readonly string[], what: string) => {
    for (const f of failures) {
      if (f.times > 0 && what.includes(f.match)) {
        f.times--;
        throw new IptablesError(argv, 2, `${bin}: injected failure (${what})\n`);
      }
    }
  };
  const command = (table: Table, op: string, chain: string, args: readonly string[] = []) => [
    bin,
    "-w",
    "-t",
    table,
    op,
    chain,
    ...args,
  ];
  const noChain = (argv: readonly string[]) =>
    new IptablesError(argv, 1, `${bin}: No chain/target/match by that name.\n`);
  const dumpTable = (t: Table): string => {
    const lines = [`*${t}`];
    const m = tbl(t);
    for (const c of m.keys()) lines.push(BUILTIN[t].includes(c) ? `:${c} ACCEPT [0:0]` : `:${c} - [0:0]`);
    for (const [c, rules] of m) for (const r of rules) lines.push(`-A ${c} ${r}`);
    lines.push("COMMIT");
    return `${lines.join("\n")}\n`;
  };

  /** iptables-restore --noflush: every line against a copy, which replaces the tables only when all passed. */
  function apply(payload: string): void {
    const argv = [`${bin}-restore`, "-w", "--noflush"];
    const work = new Map([...tables].map(([t, m]) => [t, new Map([...m].map(([c, r]) => [c, [...r]]))]));
    let cur: Map<string, string[]> | undefined;
    let curName: Table | undefined;
    const lineFailed = (n: number, why: string, status = 1) =>
      new IptablesError(argv, status, `${bin}-restore: line ${n} failed: ${why}\n`);
    const jumpsTo = (rule: string, chain: string) =>
      splitRule(rule).some((a, k, all) => (a === "-j" || a === "-g") && all[k + 1] === chain);
    const referenced = (chain: string) => [...cur!.values()].some((rules) => rules.some((r) => jumpsTo(r, chain)));
    for (const [i, raw] of payload.split("\n").entries()) {
      const n = i + 1;
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      if (line.startsWith("*")) {
        curName = line.slice(1) as Table;
        if (!BUILTIN[curName]) throw lineFailed(n, `table '${curName}' does not exist`, 2);
        if (!work.has(curName)) work.set(curName, fresh(curName));
        cur = work.get(curName);
        continue;
      }
      if (!cur || !curName) throw lineFailed(n, "no command before the first table", 2);
      if (line === "COMMIT") {
        cur = undefined;
        continue;
      }
      if (line.startsWith(":")) {
        // --noflush: a user-defined chain's line creates or flushes it; a built-in's sets its policy.
        const name = line.slice(1).split(/\s+/)[0]!;
        if (!BUILTIN[curName].includes(name)) cur.set(name, []);
        continue;
      }
      const [op, chain = "", ...rest] = splitRule(line);
      const rules = cur.get(chain);
      if (op === "-N") {
        if (rules) throw lineFailed(n, "Chain already exists.");
        cur.set(chain, []);
        continue;
      }
      if (!rules) throw lineFailed(n, "No chain/target/match by that name.");
      if (op === "-F") {
        rules.length = 0;
        continue;
      }
      if (op === "-X") {
        if (BUILTIN[curName].includes(chain)) throw lineFailed(n, "Can't delete built-in chain", 2);
        if (rules.length > 0 || referenced(chain)) {
          throw new IptablesError(
            argv,
            4,
            `${bin}-restore v1.8.9 (nf_tables): \nline ${n}: CHAIN_DEL failed (Device or resource busy): chain ${chain}\n`,
          );
        }
        cur.delete(chain);
        continue;
      }
      let at = -1;
      if (op === "-I" && /^\d+$/.test(rest[0] ?? "")) at = Number(rest.shift()) - 1;
      const j = rest.indexOf("-j");
      const target = j >= 0 ? rest[j + 1] : undefined;
      if (target && !TARGETS.has(target) && !cur.has(target))
        throw lineFailed(n, `Couldn't load target \`${target}':No such file or directory`, 2);
      const text = ruleText(rest);
      if (op === "-A") rules.push(text);
      else if (op === "-I") rules.splice(Math.max(at, 0), 0, text);
      else if (op === "-D") {
        const k = rules.indexOf(text);
        if (k < 0) throw lineFailed(n, "Bad rule (does a matching rule exist in that chain?).");
        rules.splice(k, 1);
      } else throw lineFailed(n, `unknown command ${JSON.stringify(op)}`, 2);
    }
    tables.clear();
    for (const [t, m] of work) tables.set(t, m);
  }

  const fake: FakeIPTables = {
    ipv6,
    tables,
    restores,
    started,
    failOn(match, times = 1) {
      failures.push({ match, times });
    },
    rules(t) {
      const out: string[] = [];
      for (const [c, rules] of tbl(t)) for (const r of rules) out.push(`-A ${c} ${r}`);
      return out;
    },
    dump(t) {
      return t ? dumpTable(t) : [...tables.keys()].map(dumpTable).join("");
    },
    async ensureChain(t, c) {
      maybeFail(command(t, "-N", c), `-t ${t} -N ${c}`);
      if (tbl(t).has(c)) return true;
      tbl(t).set(c, []);
      return false;
    },
    async ensureRule(pos, t, c, args) {
      const op = pos === "append" ? "-A" : "-I";
      const argv = command(t, op, c, args);
      maybeFail(argv, `-t ${t} ${op} ${c} ${ruleText(args)}`);
      const rules = tbl(t).get(c);
      if (!rules) throw noChain(argv);
      const text = ruleText(args);
      if (rules.includes(text)) return true;
      if (pos === "append") rules.push(text);
      else rules.unshift(text);
      return false;
    },
    async deleteRule(t, c, args) {
      maybeFail(command(t, "-D", c, args), `-t ${t} -D ${c} ${ruleText(args)}`);
      const rules = tbl(t).get(c);
      const i = rules ? rules.indexOf(ruleText(args)) : -1;
      if (i >= 0) rules!.splice(i, 1);
    },
    async hasRule(t, c, args) {
      maybeFail(command(t, "-C", c, args), `-t ${t} -C ${c} ${ruleText(args)}`);
      return tbl(t).get(c)?.includes(ruleText(args)) ?? false;
    },
    async save(t) {
      maybeFail([`${bin}-save`, "-t", t], `save -t ${t}`);
      return parseSave(dumpTable(t), t);
    },
    async restore(payload) {
      maybeFail([`${bin}-restore`, "-w", "--noflush"], "restore");
      restores.push(payload);
      apply(payload);
    },
    startRestore(): PendingRestore {
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
    warmRestore() {},
    close() {},
  };
  return fake;
}
