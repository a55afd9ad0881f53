// nftables through the `nft` tool, as knftables does it: a transaction is rendered to text and
// applied with `nft -f -` (atomic: all of it or nothing); reads use `nft list …` / `nft -j list …`.
// Errors are classified once, here, from the first "Error:" line of stderr (nft prints English
// whatever the locale; exec.ts also sets LC_ALL=C), so callers branch on `errno`, never on text.
import { ExecError, type Exec } from "./exec.js";

export type NftErrno = "EEXIST" | "ENOENT" | "EBUSY" | "EINVAL" | "EPERM" | "UNKNOWN";

export class NftError extends Error {
  override name = "NftError";
  readonly errno: NftErrno;
  /** The script command nft quotes under its error message (the one that failed), when it does. */
  readonly command: string | undefined;
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

/** Classifies nft's stderr: "Error: Could not process rule: File exists" → EEXIST, … */
export function classifyNftError(stderr: string): { errno: NftErrno; first: string; command: string | undefined } {
  const lines = stderr.split("\n");
  const i = lines.findIndex((l) => l.startsWith("Error:") || l.includes(": Error:"));
  const first = (i >= 0 ? lines[i]! : lines.find((l) => l.trim() !== "") ?? "").trim();
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

export interface Nft {
  /** `nft -f -` with the commands as one atomic transaction. An empty list does nothing. */
  apply(commands: readonly string[]): Promise<void>;
  /** `nft ARGS…` (e.g. ["list", "chain", "inet", "t", "c"]) → stdout. */
  run(args: readonly string[]): Promise<string>;
  /** `nft -j ARGS…` parsed; the `nftables` array of the JSON document. */
  json(args: readonly string[]): Promise<Array<Record<string, unknown>>>;
}

export interface NftOptions {
  /** Default "nft" (found in PATH). */
  readonly binary?: string;
}

export function createNft(exec: Exec, opts: NftOptions = {}): Nft {
  const bin = opts.binary ?? "nft";
  const wrap = (argv: readonly string[], e: unknown, what: string): Error => {
    if (e instanceof ExecError) {
      const c = classifyNftError(e.stderr);
      const where = c.command ? ` (in "${c.command}")` : "";
      return new NftError(`${what}: ${c.first || e.message}${where}`, c.errno, e.stderr, c.command, e);
    }
    return e instanceof Error ? e : new Error(String(e));
  };
  return {
    async apply(commands) {
      if (commands.length === 0) return;
      const argv = [bin, "-f", "-"];
      try {
        await exec.run(argv, { stdin: commands.join("\n") + "\n" });
      } catch (e) {
        throw wrap(argv, e, "nft transaction failed");
      }
    },
    async run(args) {
      const argv = [bin, ...args];
      try {
        return await exec.run(argv);
      } catch (e) {
        throw wrap(argv, e, `nft ${args.join(" ")}`);
      }
    },
    async json(args) {
      const argv = [bin, "-j", ...args];
      let out: string;
      try {
        out = await exec.run(argv);
      } catch (e) {
        throw wrap(argv, e, `nft -j ${args.join(" ")}`);
      }
      if (out.trim() === "") return [];
      const doc = JSON.parse(out) as { nftables?: Array<Record<string, unknown>> };
      return doc.nftables ?? [];
    },
  };
}

/** A string as an nft quoted literal (comments). nft has no escapes: `"` and newlines are replaced. */
export function nftString(s: string): string {
  return `"${s.replace(/["\\\n\r]/g, "_")}"`;
}

/** nft limits comments (NFT_USERDATA_MAXLEN): keep them well under 128 bytes. */
export const NFT_COMMENT_MAX = 127;
