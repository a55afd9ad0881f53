// Bridged traffic through iptables (br_netfilter): what the noop plugin is for, and what kubenet
// needs for its cbr0 — bridge-nf-call-iptables=1 (and, for noop since 1.21, the ip6tables twin),
// after `modprobe br-netfilter`.
import type { Exec } from "../../kernel/exec.js";
import type { Sysctl } from "../../kernel/types.js";
import { type Logger, nullLogger } from "../core/log.js";

export const SYSCTL_BRIDGE_CALL_IPTABLES = "net/bridge/bridge-nf-call-iptables";
export const SYSCTL_BRIDGE_CALL_IP6TABLES = "net/bridge/bridge-nf-call-ip6tables";

export interface BrNetfilterDeps {
  readonly sysctl: Sysctl;
  readonly exec: Exec;
  readonly log?: Logger;
  /** Run `modprobe br-netfilter` first (the kubelet does; tests in a sandbox netns must not load modules). */
  readonly modprobe?: boolean;
}

/**
 * modprobe br-netfilter (failure ignored), bridge-nf-call-iptables=1, and bridge-nf-call-ip6tables=1
 * when it can be read and is not 1 already. Never throws; returns the problems found.
 */
export async function enableBridgeNetfilter(
  deps: BrNetfilterDeps,
  opts: { ip6tables: boolean } = { ip6tables: true },
): Promise<string[]> {
  const log = deps.log ?? nullLogger;
  const problems: string[] = [];
  if (deps.modprobe !== false) {
    try {
      await deps.exec.run(["modprobe", "br-netfilter"]);
    } catch {
      // built in on old kernels, or not available: the sysctl write below tells
    }
  }
  try {
    await deps.sysctl.write(null, SYSCTL_BRIDGE_CALL_IPTABLES, "1");
  } catch (e) {
    const why = `can't set sysctl ${SYSCTL_BRIDGE_CALL_IPTABLES} (is the br_netfilter module loaded?): ${(e as Error).message}`;
    log.warn(why);
    problems.push(why);
  }
  if (opts.ip6tables) {
    let v: string | undefined;
    try {
      v = (await deps.sysctl.read(null, SYSCTL_BRIDGE_CALL_IP6TABLES)).trim();
    } catch {
      v = undefined; // silently skipped, as the kubelet does
    }
    if (v !== undefined && v !== "1") {
      try {
        await deps.sysctl.write(null, SYSCTL_BRIDGE_CALL_IP6TABLES, "1");
      } catch (e) {
        const why = `can't set sysctl ${SYSCTL_BRIDGE_CALL_IP6TABLES}: ${(e as Error).message}`;
        log.warn(why);
        problems.push(why);
      }
    }
  }
  return problems;
}
