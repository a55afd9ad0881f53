// nftables, the port (knftables' Interface): transactions and reads on one network namespace's
// ruleset, with one error type, NftError, whichever way they went. The port picks the mechanism:
// - over NETLINK_NETFILTER (nft-netlink.ts), when it has a socket, for what is on a hot path and
//   simple to encode: a transaction of structured operations (NftOp: deletions of set elements, a
//   chain's rules, chains, tables; additions of chains, rules of known expressions, `jump` map
//   elements) as one nfnetlink batch, and the reads of tables, chains and set keys — no `nft`
//   process, and no listing of the ruleset for nft to build its cache from (which grows with the
//   number of pods);
// - through the `nft` tool otherwise: a transaction rendered to text and applied with `nft -f -`
//   (any with a command as text, and anything read back as text), and reads with `nft list` /
//   `nft -j list`. Its errors are classified from the first "Error:" line of stderr (nft prints
//   English whatever the locale; exec.ts also sets LC_ALL=C).
// Both are atomic: a transaction is all of it or nothing. Callers branch on `errno`, never on
// text, and never on the mechanism.
import { ipToBytes, tryParseIPExact } from "../ip/index.js";
import { isKernelError } from "./errors.js";
import { ExecError, nodeExec, type Exec } from "./exec.js";
import {
  nftKey,
  opCommand,
  openNftNetlink,
  ownNftNetlink,
  type NftFamilyName,
  type NftNetlink,
  type NftOp,
} from "./nft-netlink.js";
import { PodnetError } from "../util/errors.js";

export type NftErrno = "EEXIST" | "ENOENT" | "EBUSY" | "EINVAL" | "EPERM" | "UNKNOWN";

export class NftError extends PodnetError {
  override name = "NftError";
  readonly code = "PODNET_NFTABLES";
  readonly errno: NftErrno;
  /** The command of the transaction that failed, when known (nft quotes it under its message; netlink names it). */
  readonly command: string | undefined;
  /** nft's stderr ("" when the transaction went over netlink). */
  readonly stderr: string;
  constructor(message: string, errno: NftErrno, stderr: string, command: string | undefined, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.errno = errno;
    this.stderr = stderr;
    this.command = command;
  }
}

export const isNftExists = (e: unknown): e is NftError => e instanceof NftError && e.errno === "EEXIST";
export const isNftNotFound = (e: unknown): e is NftError => e instanceof NftError && e.errno === "ENOENT";
/** Something is not there, or still in use (a chain that is jumped to): the ruleset is not as expected. */
export const isNftGoneOrBusy = (e: unknown): e is NftError =>
  e instanceof NftError && (e.errno === "ENOENT" || e.errno === "EBUSY");

/** Classifies nft's stderr: "Error: Could not process rule: File exists" → EEXIST, … */
export function classifyNftError(stderr: string): { errno: NftErrno; first: string; command: string | undefined } {
  const lines = stderr.split("\n");
  const i = lines.findIndex((l) => l.startsWith("Error:") || l.includes(": Error:"));
  const first = (i >= 0 ? lines[i]! : (lines.find((l) => l.trim() !== "") ?? "")).trim();
  let errno: NftErrno = "UNKNOWN";
  if (/File exists/.test(first)) errno = "EEXIST";
  else if (/No such file or directory/.test(first)) errno = "ENOENT";
  else if (/Device or resource busy/.test(first)) errno = "EBUSY";
  else if (/Operation not permitted/.test(first)) errno = "EPERM";
  else if (/Invalid argument|syntax error|Could not resolve|Error: /.test(first)) errno = "EINVAL";
  // nft echoes the failing command on the line after the message (then a line of ^^^ markers).
  const next = i >= 0 ? lines[i + 1]?.trim() : undefined;
  const command = next && !/^[\s^~]*$/.test(next) ? next : undefined;
  return { errno, first, command };
}

const NFT_ERRNOS: readonly string[] = ["EEXIST", "ENOENT", "EBUSY", "EINVAL", "EPERM"];

/**
 * One command of a transaction: an operation the port may send over netlink, or any command as nft
 * script text ("add table inet t …"). A transaction with text in it goes through `nft -f -`.
 */
export type NftCommand = NftOp | string;

/** The nft script line of a command. */
export const commandText = (c: NftCommand): string => (typeof c === "string" ? c : opCommand(c));

/** A table's chains, and the keys of the sets asked for (as the kernel holds them: see nftKey). */
export interface NftTable {
  readonly chains: readonly string[];
  /** Per set or map asked for that exists. A key the text path cannot encode is empty (it matches no key). */
  readonly sets: ReadonlyMap<string, readonly Uint8Array[]>;
}

export interface Nftables {
  /** One atomic transaction; an empty one does nothing. */
  apply(tx: readonly NftCommand[]): Promise<void>;
  /** Whether the table exists. */
  tableExists(family: NftFamilyName, table: string): Promise<boolean>;
  /** The table's chains and the keys of `sets`; undefined when there is no such table. */
  table(family: NftFamilyName, table: string, sets: readonly string[]): Promise<NftTable | undefined>;
  /** `nft ARGS…` (e.g. ["list", "chain", "inet", "t", "c"]) → stdout: rules and comments as text. */
  run(args: readonly string[]): Promise<string>;
  /** `nft -j ARGS…` parsed; the `nftables` array of the JSON document. */
  json(args: readonly string[]): Promise<Array<Record<string, unknown>>>;
  /** Closes the netlink socket, if one was opened. */
  close(): void;
}

export interface NftablesOptions {
  /** Runs `nft` in the network namespace. */
  readonly exec: Exec;
  /** nf_tables over netlink in the same namespace, opened on first use. */
  readonly netlink?: () => NftNetlink;
  /** Default "nft" (found in PATH). */
  readonly binary?: string;
}

export function createNftables(o: NftablesOptions): Nftables {
  const bin = o.binary ?? "nft";
  const fromExec = (e: unknown, what: string): Error => {
    if (e instanceof ExecError) {
      const c = classifyNftError(e.stderr);
      const where = c.command ? ` (in "${c.command}")` : "";
      return new NftError(`${what}: ${c.first || e.message}${where}`, c.errno, e.stderr, c.command, e);
    }
    return e instanceof Error ? e : new Error(String(e));
  };
  /** A netlink KernelError as NftError; `ops`: the commands whose text the kernel's error names. */
  const fromKernel = (e: unknown, ops: ReadonlySet<string> = new Set()): unknown => {
    if (!isKernelError(e)) return e;
    const command = e.op.startsWith("nft ") && ops.has(e.op.slice(4)) ? e.op.slice(4) : undefined;
    return new NftError(e.message, (NFT_ERRNOS.includes(e.errno) ? e.errno : "UNKNOWN") as NftErrno, "", command, e);
  };
  let nl: NftNetlink | undefined;
  const netlink = o.netlink ? () => (nl ??= o.netlink!()) : undefined;
  const readNetlink = <T>(fn: (n: NftNetlink) => T): T => {
    try {
      return fn(netlink!());
    } catch (e) {
      throw fromKernel(e);
    }
  };
  const run = async (args: readonly string[]): Promise<string> => {
    try {
      return await o.exec.run([bin, ...args]);
    } catch (e) {
      throw fromExec(e, `nft ${args.join(" ")}`);
    }
  };
  const json = async (args: readonly string[]): Promise<Array<Record<string, unknown>>> => {
    let out: string;
    try {
      out = await o.exec.run([bin, "-j", ...args]);
    } catch (e) {
      throw fromExec(e, `nft -j ${args.join(" ")}`);
    }
    if (out.trim() === "") return [];
    const doc = JSON.parse(out) as { nftables?: Array<Record<string, unknown>> };
    return doc.nftables ?? [];
  };
  const applyText = async (tx: readonly NftCommand[]): Promise<void> => {
    try {
      await o.exec.run([bin, "-f", "-"], { stdin: `${tx.map(commandText).join("\n")}\n` });
    } catch (e) {
      throw fromExec(e, "nft transaction failed");
    }
  };
  return {
    async apply(tx) {
      if (tx.length === 0) return;
      const structured = tx.every((c): c is NftOp => typeof c !== "string") ? tx : undefined;
      if (netlink && structured) {
        const ops = new Set(structured.map(opCommand));
        try {
          netlink().apply(structured);
          return;
        } catch (e) {
          // The kernel's answer to the transaction is final; anything else (no socket, or no
          // answer in time) leaves the transaction to `nft`.
          if (isKernelError(e) && e.op.startsWith("nft ") && e.errno !== "ETIMEDOUT") throw fromKernel(e, ops);
        }
      }
      await applyText(tx);
    },
    async tableExists(family, table) {
      if (netlink) return readNetlink((n) => n.tableExists(family, table));
      try {
        await run(["list", "table", family, table]);
        return true;
      } catch (e) {
        if (isNftNotFound(e)) return false;
        throw e;
      }
    },
    async table(family, table, sets) {
      if (netlink) {
        return readNetlink((n) => {
          if (!n.tableExists(family, table)) return undefined;
          const keys = new Map<string, Uint8Array[]>();
          for (const s of sets) {
            const k = n.setKeys(family, table, s);
            if (k) keys.set(s, k);
          }
          return { chains: n.chains(family, table), sets: keys };
        });
      }
      let objs: Array<Record<string, unknown>>;
      try {
        objs = await json(["list", "table", family, table]);
      } catch (e) {
        if (isNftNotFound(e)) return undefined;
        throw e;
      }
      return tableOfJson(objs, sets);
    },
    run,
    json,
    close: () => nl?.close(),
  };
}

/**
 * The port on this machine: `nft` through `exec`, nf_tables over netlink in `netns` — for null (this
 * process's own netns) one socket for the life of the process (see ownNftNetlink).
 */
export function nodeNftables(netns: string | null, exec: Exec = nodeExec): Nftables {
  return createNftables({ exec, netlink: () => (netns === null ? ownNftNetlink() : openNftNetlink(netns)) });
}

/** A table from `nft -j list table`: its chains, and the keys of `sets` encoded from their declared types. */
export function tableOfJson(objs: ReadonlyArray<Record<string, unknown>>, sets: readonly string[]): NftTable {
  const chains: string[] = [];
  const keys = new Map<string, Uint8Array[]>();
  for (const o of objs) {
    const c = o["chain"] as { name?: unknown } | undefined;
    if (c && typeof c.name === "string") chains.push(c.name);
    const s = (o["map"] ?? o["set"]) as { name?: unknown; type?: unknown; elem?: unknown[] } | undefined;
    if (!s || typeof s.name !== "string" || !sets.includes(s.name)) continue;
    const types = (Array.isArray(s.type) ? s.type : [s.type]).map(String);
    keys.set(
      s.name,
      (s.elem ?? []).map((el) => encodeJsonKey(types, o["map"] !== undefined && Array.isArray(el) ? el[0] : el)),
    );
  }
  return { chains, sets: keys };
}

const PROTOCOLS: Readonly<Record<string, number>> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, sctp: 132 };

/** One key of `nft -j` output as the kernel holds it; empty when a field's type is not one of these. */
function encodeJsonKey(types: readonly string[], key: unknown): Uint8Array {
  const values =
    key !== null && typeof key === "object" && Array.isArray((key as { concat?: unknown }).concat)
      ? (key as { concat: unknown[] }).concat
      : [key];
  if (values.length !== types.length) return new Uint8Array(0);
  const fields: Uint8Array[] = [];
  for (const [i, t] of types.entries()) {
    const v = values[i];
    if (t === "inet_proto") {
      const n = typeof v === "number" ? v : PROTOCOLS[String(v)];
      if (n === undefined) return new Uint8Array(0);
      fields.push(new Uint8Array([n]));
    } else if (t === "inet_service") {
      if (typeof v !== "number") return new Uint8Array(0);
      fields.push(new Uint8Array([v >> 8, v & 0xff]));
    } else if (t === "ipv4_addr" || t === "ipv6_addr") {
      const ip = typeof v === "string" ? tryParseIPExact(v) : undefined;
      if (!ip || ip.family !== (t === "ipv4_addr" ? 4 : 6)) return new Uint8Array(0);
      fields.push(ipToBytes(ip));
    } else {
      return new Uint8Array(0);
    }
  }
  return nftKey(fields);
}

export { nftString } from "./nft-netlink.js";

/** nft limits comments (NFT_USERDATA_MAXLEN): keep them well under 128 bytes. */
export const NFT_COMMENT_MAX = 127;
