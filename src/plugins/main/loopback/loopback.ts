// loopback: brings `lo` up inside the container's netns (Go's plugins/main/loopback).
//
// ADD reports lo with its first IPv4 and first IPv6 address, or passes a chained prevResult through
// unchanged; DEL sets lo down and succeeds when the netns is already gone (kubernetes#43014);
// CHECK fails when lo is down. CNI_IFNAME is ignored: this plugin only ever touches "lo".
import { CniCode, CniError, type AnyResult, type IPConfig, type Result100As } from "../../../cni/index.js";
import { isKernelError } from "../../../kernel/errors.js";
import type { Addr, Kernel } from "../../../kernel/types.js";
import { allVersions, readPrevResult, type CmdArgs, type PluginAbout, type PluginFuncs } from "../../../sdk/index.js";

const LO = "lo";

export interface LoopbackDeps {
  readonly kernel: Kernel;
}

/** loopback has no keys of its own; a prevResult, when present, must parse (it is passed on as read). */
export interface LoopbackConf {
  readonly cniVersion: string;
  readonly prevResult?: AnyResult;
}

export function parseConfig(args: CmdArgs): LoopbackConf {
  let prevResult: AnyResult | undefined;
  try {
    prevResult = readPrevResult(args.netconf, args.cniVersion);
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(CniCode.DecodingFailure, String(e));
    throw new CniError(err.code, `failed to parse prevResult: ${err.message}`, { details: err.details, cause: e });
  }
  return { cniVersion: args.cniVersion, ...(prevResult ? { prevResult } : {}) };
}

/** 127.0.0.0/8 and ::1 (what Go's net.IP.IsLoopback accepts; ::ffff:127.x too). */
export function isLoopbackAddr(a: Pick<Addr, "family" | "address">): boolean {
  if (a.family === 4) return a.address.startsWith("127.");
  const s = a.address.toLowerCase();
  return s === "::1" || /^::ffff:127\./.test(s);
}

/**
 * The result Go's loopback prints when nothing was chained before it: a 1.x result labelled with
 * the config's version and printed in the 1.x shape whatever that version is (Go builds a
 * types100.Result with CNIVersion set to the config's, which PrintResult then leaves as it is).
 */
export function loopbackResult(
  cniVersion: string,
  netns: string,
  v4: readonly Addr[],
  v6: readonly Addr[],
): Result100As {
  const ips: IPConfig[] = [];
  for (const list of [v4, v6]) {
    const first = list[0];
    if (first) ips.push({ interface: 0, address: first.cidr });
  }
  return {
    cniVersion,
    shape: "100",
    interfaces: [{ name: LO, mac: "00:00:00:00:00:00", sandbox: netns }],
    ...(ips.length ? { ips } : {}),
  };
}

function failedIn(netns: string, e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (isKernelError(e, "ENOENT")) {
    return new CniError(CniCode.InvalidNetNs, `failed to open netns "${netns}": no such network namespace`, {
      cause: e,
    });
  }
  return new CniError(CniCode.Internal, `netns "${netns}": ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

export async function cmdAdd(args: CmdArgs, deps: LoopbackDeps): Promise<AnyResult> {
  const conf = parseConfig(args);
  const ops = deps.kernel.netns(args.netns);
  let v4: Addr[], v6: Addr[];
  try {
    await ops.linkSetUp(LO);
    // lo's addresses are listed after it is up: ::1 only appears on an up link.
    const all = await ops.addrList(LO);
    v4 = all.filter((a) => a.family === 4);
    v6 = all.filter((a) => a.family === 6);
  } catch (e) {
    throw failedIn(args.netns, e);
  }
  for (const a of [...v4, ...v6]) {
    if (!isLoopbackAddr(a))
      throw new CniError(CniCode.Internal, `loopback interface found with non-loopback address "${a.address}"`);
  }
  // Chained after another plugin: hand its result on untouched, as the Go plugin does.
  return conf.prevResult ?? loopbackResult(args.cniVersion, args.netns, v4, v6);
}

export async function cmdDel(args: CmdArgs, deps: LoopbackDeps): Promise<void> {
  // Nothing of the config is needed, and Go's DEL does not read it: a prevResult it cannot read
  // must not make a DEL fail.
  if (args.netns === "") return;
  try {
    await deps.kernel.netns(args.netns).linkSetDown(LO);
  } catch (e) {
    // The netns is already gone: nothing left to undo (kubernetes/kubernetes#43014).
    if (isKernelError(e, "ENOENT")) return;
    throw failedIn(args.netns, e);
  }
}

export async function cmdCheck(args: CmdArgs, deps: LoopbackDeps): Promise<void> {
  parseConfig(args);
  let up: boolean;
  try {
    const lo = await deps.kernel.netns(args.netns).linkGet(LO);
    if (!lo) throw new CniError(CniCode.Internal, `failed to find link "${LO}" in netns "${args.netns}"`);
    up = lo.up;
  } catch (e) {
    throw failedIn(args.netns, e);
  }
  if (!up) throw new CniError(CniCode.Internal, "loopback interface is down");
}

export const LOOPBACK_ABOUT: PluginAbout = { name: "loopback", supportedVersions: allVersions, plainErrors: true };

/** Closes the netns handle afterwards: an open socket would pin the netns in a long-running caller. */
function closing<T>(deps: LoopbackDeps, netns: string, fn: () => Promise<T>): Promise<T> {
  return fn().finally(() => {
    if (netns !== "") deps.kernel.netns(netns).close();
  });
}

export function createLoopback(deps: LoopbackDeps): PluginFuncs {
  return {
    add: (a) => closing(deps, a.netns, () => cmdAdd(a, deps)),
    del: (a) => closing(deps, a.netns, () => cmdDel(a, deps)),
    check: (a) => closing(deps, a.netns, () => cmdCheck(a, deps)),
  };
}
