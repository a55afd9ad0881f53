// Test helpers of the kernel layer. For unit tests: the one fake Exec and RawExec (scripted
// commands that record what they were asked, as Go's invoke/fakes and knftables' fake do). For
// real-kernel (netns tier) tests: throwaway namespaces named podnet-t-<random>, always deleted,
// and `ip -json` as the oracle. Import from tests only.
import { randomBytes } from "node:crypto";
import {
  ExecError,
  ExecStartError,
  nodeExec,
  type Exec,
  type ExecOptions,
  type ExecResult,
  type RawExec,
} from "./exec.js";
import { createKernel } from "./kernel.js";
import type { Kernel, NetOps } from "./types.js";

export const TEST_NETNS_PREFIX = "podnet-t-";

/** Why netns tests cannot run here, or false when they can (root). Use as `{ skip: netnsSkip() }`. */
export function netnsSkip(): string | false {
  return process.getuid?.() === 0 ? false : "needs root (creates network namespaces)";
}

export interface TempNetns {
  readonly name: string;
  /** /run/netns/NAME */
  readonly path: string;
  /** NetOps bound to this netns (closed on delete). */
  readonly ops: NetOps;
  readonly kernel: Kernel;
  /** `ip -n NAME -json ARGS…`, parsed ([] when ip prints nothing). */
  // biome-ignore lint/suspicious/noExplicitAny: tests read iproute2's JSON field by field; typing every object would restate iproute2
  ipJson(...args: string[]): Promise<any[]>;
  /** `ip -n NAME ARGS…` → stdout. */
  ip(...args: string[]): Promise<string>;
  /** `ip netns exec NAME ARGV…` → stdout. */
  exec(...argv: string[]): Promise<string>;
  /** Deletes the netns (idempotent). */
  delete(): Promise<void>;
}

let shared: Kernel | undefined;
function testKernel(): Kernel {
  shared ??= createKernel();
  return shared;
}

export function randomNetnsName(prefix = TEST_NETNS_PREFIX): string {
  return `${prefix}${randomBytes(4).toString("hex")}`;
}

/** Creates a fresh named netns. The caller must `delete()` it (prefer withTempNetns). */
export async function makeNetns(prefix = TEST_NETNS_PREFIX, kernel: Kernel = testKernel()): Promise<TempNetns> {
  const name = randomNetnsName(prefix);
  const path = await kernel.netnsAdd(name);
  const ops = kernel.netns(path);
  const ip = (...args: string[]) => nodeExec.run(["ip", "-n", name, ...args]);
  return {
    name,
    path,
    ops,
    kernel,
    ip,
    async ipJson(...args) {
      const out = (await ip("-json", ...args)).trim();
      return out === "" ? [] : JSON.parse(out);
    },
    exec: (...argv) => nodeExec.run(["ip", "netns", "exec", name, ...argv]),
    async delete() {
      ops.close(); // an open socket would keep the netns (and its veths) alive
      await kernel.netnsDel(name);
    },
  };
}

/** Runs fn with `count` fresh namespaces (default 1) and deletes them afterwards, even on failure. */
export async function withTempNetns<T>(fn: (...ns: TempNetns[]) => Promise<T>, count = 1): Promise<T> {
  const made: TempNetns[] = [];
  try {
    for (let i = 0; i < count; i++) made.push(await makeNetns());
    return await fn(...made);
  } finally {
    for (const ns of made.reverse()) await ns.delete().catch(() => {});
  }
}

// ---- the fake Exec and RawExec -----------------------------------------------------------------

/** One command a FakeExec ran. */
export interface ExecCall {
  readonly argv: readonly string[];
  /** What it was given on stdin ("" for none; a deferred stdin once it settled). */
  readonly stdin: string;
}

/** What a fake command does: print stdout (a string), fail (a non-zero `code`, stderr), or throw the Error. */
export type ExecReply = string | Error | { readonly stdout?: string; readonly stderr?: string; readonly code?: number };
/** A reply, or a function of the command (argv and stdin) giving one. */
export type ExecAnswer = ExecReply | ((argv: readonly string[], stdin: string) => ExecReply);

export interface FakeExec extends Exec {
  readonly calls: ExecCall[];
  /** The commands run so far, each argv joined with spaces. */
  lines(): string[];
  /**
   * Answers the commands whose joined argv starts with `match` (a string; "" matches all) or
   * matches it (a RegExp). Rules added later are consulted first; a command no rule matches
   * prints nothing and succeeds.
   */
  on(match: RegExp | string, answer: ExecAnswer): FakeExec;
  /** Programs that are not installed: running one fails as a spawn ENOENT does (isNotStarted). */
  readonly missing: Set<string>;
}

const stdinText = (v: string | Uint8Array | undefined): string =>
  v === undefined ? "" : typeof v === "string" ? v : Buffer.from(v).toString();

/** A scripted Exec answering from `rules` (the first that matches) and those `on` adds before them. */
export function createFakeExec(rules: ReadonlyArray<readonly [RegExp | string, ExecAnswer]> = []): FakeExec {
  const list: Array<readonly [RegExp | string, ExecAnswer]> = [...rules];
  const self: FakeExec = {
    calls: [],
    missing: new Set(),
    lines: () => self.calls.map((c) => c.argv.join(" ")),
    on(match, answer) {
      list.unshift([match, answer]);
      return self;
    },
    async run(argv: readonly string[], opts: ExecOptions = {}) {
      const stdin = opts.deferredStdin ? stdinText(await opts.deferredStdin) : stdinText(opts.stdin);
      self.calls.push({ argv: [...argv], stdin });
      const file = argv[0] ?? "";
      if (self.missing.has(file))
        throw new ExecError(argv, null, "", "", new ExecStartError(file, "ENOENT", `${file}: spawn ENOENT`));
      const line = argv.join(" ");
      const rule = list.find(([m]) => (typeof m === "string" ? line.startsWith(m) : m.test(line)));
      const answer = rule?.[1] ?? "";
      const r = typeof answer === "function" ? answer(argv, stdin) : answer;
      if (r instanceof Error) throw r;
      if (typeof r === "string") return r;
      if ((r.code ?? 0) !== 0) throw new ExecError(argv, r.code ?? 1, r.stdout ?? "", r.stderr ?? "");
      return r.stdout ?? "";
    },
  };
  return self;
}

/** One program a FakeRawExec ran. */
export interface RawExecCall {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: string;
}

export interface FakeRawExec extends RawExec {
  readonly calls: RawExecCall[];
}

/** A scripted RawExec: `answer` says how each program ends (default: exit 0, no output). */
export function createFakeRawExec(
  answer: (
    file: string,
    args: readonly string[],
    call: RawExecCall,
  ) => { code?: number; stdout?: string; stderr?: string } = () => ({}),
): FakeRawExec {
  const calls: RawExecCall[] = [];
  return {
    calls,
    async run(file, args, opts = {}): Promise<ExecResult> {
      const call = {
        file,
        args,
        env: opts.env ?? {},
        stdin: opts.deferredStdin ? stdinText(await opts.deferredStdin) : stdinText(opts.stdin),
      };
      calls.push(call);
      const a = answer(file, args, call);
      return {
        code: a.code ?? 0,
        signal: null,
        stdout: Buffer.from(a.stdout ?? ""),
        stderr: Buffer.from(a.stderr ?? ""),
        timedOut: false,
      };
    },
  };
}
