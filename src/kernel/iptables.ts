// iptables through `iptables-save` / `iptables-restore --noflush` (and the ip6tables pair): one
// read and one atomic write per operation, instead of the one exec per `-C`/`-A` that Go's
// go-iptables does. Rules are compared in iptables-save's canonical text, so renderers that want
// idempotence write their rules the way iptables-save prints them.
import type { Exec } from "./exec.js";
import { ExecError } from "./exec.js";

export type IptFamily = 4 | 6;

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

/** Parses one table of iptables-save output (`*nat … COMMIT`). */
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

/** Splits a rule the way a shell would (double/single quotes, backslash escapes), as iptables-restore reads it. */
export function shellSplit(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let have = false;
  let q: '"' | "'" | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (q === "'") {
      if (c === "'") q = undefined;
      else cur += c;
    } else if (q === '"') {
      if (c === '"') q = undefined;
      else if (c === "\\" && (s[i + 1] === '"' || s[i + 1] === "\\")) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      q = c;
      have = true;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      have = true;
    } else if (c === " " || c === "\t") {
      if (have || cur !== "") out.push(cur);
      cur = "";
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have || cur !== "") out.push(cur);
  return out;
}

/** One argument quoted as iptables-save quotes it (only when needed; `"` and `\` escaped). */
export function quoteArg(a: string): string {
  if (a !== "" && /^[A-Za-z0-9_.:/,!+\-=@%^[\]]+$/.test(a)) return a;
  return `"${a.replace(/[\\"]/g, (m) => `\\${m}`)}"`;
}

export const joinArgs = (args: readonly string[]): string => args.map(quoteArg).join(" ");

export interface Iptables {
  /** `iptables-save -t TABLE`, parsed; undefined when the tool or the table cannot be used. */
  save(family: IptFamily, table: string): Promise<SavedTable | undefined>;
  /** `iptables-restore --noflush` with `*TABLE`, the lines, `COMMIT`: one atomic change. */
  restore(family: IptFamily, table: string, lines: readonly string[]): Promise<void>;
}

export class IptablesError extends Error {
  override name = "IptablesError";
  readonly stderr: string;
  constructor(message: string, stderr: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.stderr = stderr;
  }
}

export function createIptables(exec: Exec): Iptables {
  const tool = (f: IptFamily, what: "save" | "restore") => `${f === 6 ? "ip6tables" : "iptables"}-${what}`;
  return {
    async save(family, table) {
      try {
        return parseSave(await exec.run([tool(family, "save"), "-t", table]), table);
      } catch {
        return undefined;
      }
    },
    async restore(family, table, lines) {
      if (lines.length === 0) return;
      const argv = [tool(family, "restore"), "--noflush", "--wait"];
      const input = [`*${table}`, ...lines, "COMMIT", ""].join("\n");
      try {
        await exec.run(argv, { stdin: input });
      } catch (e) {
        const stderr = e instanceof ExecError ? e.stderr : "";
        const msg = stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !/^i?p6?tables-restore v[\d.]+/.test(l)).join("; ");
        throw new IptablesError(`${argv[0]} failed: ${msg || (e as Error).message}`, stderr, e);
      }
    },
  };
}
