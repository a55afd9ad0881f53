// iptables, the one module that drives it: reads with `iptables-save -t TABLE` (parsed), atomic
// changes with `iptables-restore -w --noflush` (one transaction: all of it or nothing), and the
// kubelet's ensure-chain / ensure-rule (pkg/util/iptables: `-N`; `-C`, then `-A`/`-I`) for the
// few rules that are checked one by one. One IPTables per family (iptables or ip6tables), as the
// kubelet's and go-iptables' are. The rule renderers (portmap, bridge's ipMasq, kubenet's
// hostports) stay with their plugins: they mirror three Go layouts.
//
// Rule text. iptables-save prints a rule's string values (comments, log prefixes) through
// xtables_save_string — bare when made only of [A-Za-z0-9_-], otherwise in double quotes with
// `"`, `\` and `'` escaped — and every other value bare. iptables-restore splits a line on blanks;
// a double-quoted run is one argument, in which a backslash takes the next character as it is.
// `ruleText` and `splitRule` are those two, so a rule rendered here compares byte for byte with
// what iptables-save prints, provided its options are in iptables-save's order (the renderers'
// part). The fake with the same interface is iptables-fake.ts.
import { ExecError, isNotStarted, type Exec } from "./exec.js";
import { PodnetError } from "../util/errors.js";

export type Table = "nat" | "filter" | "mangle" | "raw";
export type RulePosition = "append" | "prepend";

// ---- rule text --------------------------------------------------------------------------------

/** Options whose value iptables-save prints as a string (xtables_save_string). */
const STRING_OPTIONS: ReadonlySet<string> = new Set(["--comment", "--log-prefix", "--nflog-prefix"]);

/** A string value as iptables-save prints it (xtables_save_string). */
export function quoteString(s: string): string {
  return /^[A-Za-z0-9_-]+$/.test(s) ? s : `"${s.replace(/["\\']/g, "\\$&")}"`;
}

/**
 * Arguments as one rule text, quoted as iptables-save prints them: string values always as
 * strings, anything else bare — unless it is empty or holds a blank or a `"`, which iptables-save
 * never prints bare but iptables-restore would split.
 */
export function ruleText(args: readonly string[]): string {
  const out: string[] = [];
  let stringValue = false;
  for (const a of args) {
    out.push(stringValue || a === "" || /[\s"]/.test(a) ? quoteString(a) : a);
    stringValue = !stringValue && STRING_OPTIONS.has(a);
  }
  return out.join(" ");
}

/** A rule line split into arguments as iptables-restore splits it (add_param_to_argv). */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === "\\" && i + 1 < line.length) cur += line[++i];
      else if (c === '"') {
        // A closing quote ends the argument, empty or not.
        out.push(cur);
        cur = "";
        quoted = false;
      } else cur += c;
    } else if (c === '"') {
      quoted = true;
    } else if (c === " " || c === "\t" || c === "\n") {
      if (cur !== "") out.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  if (cur !== "" || quoted) out.push(cur);
  return out;
}

// ---- iptables-save and -restore text ---------------------------------------------------------

export interface SavedRule {
  readonly chain: string;
  /** The rule after "-A <chain> ", exactly as iptables-save printed it. */
  readonly spec: string;
}

export interface SavedTable {
  /** Every chain of the table, built-in and user-defined, in save order. */
  readonly chains: ReadonlySet<string>;
  readonly rules: readonly SavedRule[];
}

/** One table of iptables-save output (`*nat … COMMIT`); empty when the table is not in it. */
export function parseSave(text: string, table: string): SavedTable {
  const chains = new Set<string>();
  const rules: SavedRule[] = [];
  let inTable = false;
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (line.startsWith("*")) {
      inTable = line.slice(1) === table;
      continue;
    }
    if (!inTable) continue;
    if (line === "COMMIT") {
      inTable = false;
      continue;
    }
    if (line.startsWith(":")) {
      const name = line.slice(1).split(" ")[0];
      if (name) chains.add(name);
    } else if (line.startsWith("-A ")) {
      const rest = line.slice(3);
      const sp = rest.indexOf(" ");
      if (sp < 0) rules.push({ chain: rest, spec: "" });
      else rules.push({ chain: rest.slice(0, sp), spec: rest.slice(sp + 1) });
    }
  }
  return { chains, rules };
}

/** `-A CHAIN SPEC`: a saved rule as iptables-save printed it. */
export const ruleLine = (r: SavedRule): string => (r.spec === "" ? `-A ${r.chain}` : `-A ${r.chain} ${r.spec}`);

/** `:CHAIN - [0:0]`: a user-defined chain as iptables-save prints it; in a --noflush restore, it creates the chain or flushes it. */
export const chainLine = (chain: string): string => `:${chain} - [0:0]`;

/** The input of one iptables-restore transaction of `table`: `*TABLE`, the lines, `COMMIT`. */
export const restoreInput = (table: Table, lines: readonly string[]): string =>
  [`*${table}`, ...lines, "COMMIT", ""].join("\n");

// ---- errors -----------------------------------------------------------------------------------

/**
 * A failed iptables command, from the real tools and from the fake alike. `exitCode` is the
 * tool's: 1 — a chain, rule or target is not there (or, for `-N`, already is), or a restore line
 * failed; 2 — a bad argument; 4 — a resource problem (a chain still in use, the xtables lock);
 * null — the tool did not run (`notInstalled`: it could not be started at all).
 */
export class IptablesError extends PodnetError {
  override name = "IptablesError";
  readonly code = "PODNET_IPTABLES";
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;
  readonly notInstalled: boolean;
  constructor(
    argv: readonly string[],
    exitCode: number | null,
    stderr: string,
    opts: { cause?: unknown; notInstalled?: boolean } = {},
  ) {
    const summary = stderr
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !/^i?p6?tables(-restore|-save)? v[\d.]+( \([\w_]+\))?:?$/.test(l))
      .join("; ");
    const what = /-(save|restore)$/.test(argv[0] ?? "") ? argv[0] : argv.filter((a) => a !== "-w").join(" ");
    const why = summary || (opts.cause instanceof Error ? opts.cause.message : `exit status ${exitCode}`);
    super(`${what} failed: ${why}`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
    this.notInstalled = opts.notInstalled ?? false;
  }
}

// ---- the interface ----------------------------------------------------------------------------

export interface IPTables {
  readonly ipv6: boolean;
  /** `iptables -w -t T -N C`; true when it already existed. */
  ensureChain(table: Table, chain: string): Promise<boolean>;
  /** `iptables -w -t T -C C ARGS…`, then `-A`/`-I` when absent; true when it already existed. */
  ensureRule(position: RulePosition, table: Table, chain: string, args: readonly string[]): Promise<boolean>;
  /** `iptables -w -t T -D C ARGS…` when `-C` finds it; no error when absent. */
  deleteRule(table: Table, chain: string, args: readonly string[]): Promise<void>;
  /** `iptables -w -t T -C C ARGS…`: iptables' own comparison, for rules whose text is not in iptables-save's form. */
  hasRule(table: Table, chain: string, args: readonly string[]): Promise<boolean>;
  /** `iptables-save -t T`, parsed. */
  save(table: Table): Promise<SavedTable>;
  /** `iptables-restore -w --noflush` with `payload` (see restoreInput) on stdin: one transaction. */
  restore(payload: string): Promise<void>;
  /**
   * The same restore, started now (its process start-up overlaps whatever the caller does next)
   * with the payload given later. Exactly one of commit/cancel must be called (cancel: an empty,
   * no-op restore).
   */
  startRestore(): PendingRestore;
  /** Starts the spare restore process now (see IPTablesOptions.spareRestore), if there is none. */
  warmRestore(): void;
  /** Ends a spare restore process that is waiting for its input. */
  close(): void;
}

export interface PendingRestore {
  commit(payload: string): Promise<void>;
  cancel(): void;
}

export interface IPTablesOptions {
  /**
   * Keep one `iptables-restore` started and waiting for its input, and use it for the next
   * restore: starting a process from the daemon blocks it ~3-5 ms (fork + exec of a big process,
   * which also stalls its other threads), and that is then paid between pod operations instead of
   * in one. A waiting restore holds no lock and reads the ruleset only once it has its input.
   */
  readonly spareRestore?: boolean;
}

function toIptablesError(argv: readonly string[], e: unknown): IptablesError {
  if (e instanceof IptablesError) return e;
  if (e instanceof ExecError)
    return new IptablesError(argv, e.exitCode, e.stderr, { cause: e, notInstalled: isNotStarted(e) });
  return new IptablesError(argv, null, "", { cause: e });
}

export function createIPTables(exec: Exec, ipv6 = false, opts: IPTablesOptions = {}): IPTables {
  const bin = ipv6 ? "ip6tables" : "iptables";
  const restoreArgv = [`${bin}-restore`, "-w", "--noflush"];
  const run = async (argv: readonly string[], stdin?: string | PromiseLike<string>): Promise<string> => {
    try {
      return await exec.run(
        argv,
        stdin === undefined ? {} : typeof stdin === "string" ? { stdin } : { deferredStdin: stdin },
      );
    } catch (e) {
      throw toIptablesError(argv, e);
    }
  };
  /** exit status 1: "Chain already exists" (-N), "Bad rule" (-C): the kubelet's own test. */
  const status1 = (e: unknown) => e instanceof IptablesError && e.exitCode === 1;
  const check = async (table: Table, chain: string, args: readonly string[]): Promise<boolean> => {
    try {
      await run([bin, "-w", "-t", table, "-C", chain, ...args]);
      return true;
    } catch (e) {
      if (status1(e)) return false;
      throw e;
    }
  };
  let spare: PendingRestore | undefined;
  let closed = false;

  function launch(): PendingRestore {
    let give!: (payload: string) => void;
    const done = run(restoreArgv, new Promise<string>((r) => (give = r)));
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

  return {
    ipv6,
    async ensureChain(table, chain) {
      try {
        await run([bin, "-w", "-t", table, "-N", chain]);
        return false;
      } catch (e) {
        if (status1(e)) return true;
        throw e;
      }
    },
    async ensureRule(position, table, chain, args) {
      if (await check(table, chain, args)) return true;
      await run([bin, "-w", "-t", table, position === "append" ? "-A" : "-I", chain, ...args]);
      return false;
    },
    async deleteRule(table, chain, args) {
      if (await check(table, chain, args)) await run([bin, "-w", "-t", table, "-D", chain, ...args]);
    },
    hasRule: check,
    save: async (table) => parseSave(await run([`${bin}-save`, "-t", table]), table),
    async restore(payload) {
      if (spare) return take().commit(payload);
      try {
        await run(restoreArgv, payload);
      } finally {
        if (opts.spareRestore) setImmediate(refill);
      }
    },
    startRestore: () => take(),
    warmRestore: refill,
    close() {
      closed = true;
      spare?.cancel();
      spare = undefined;
    },
  };
}
