// kubenet's one masquerade rule (for the family of --non-masquerade-cidr): traffic from pods to
// anything outside that range leaves with the node's address. Made at init; the kubelet re-ensured
// it after every pod (an `iptables -C`, ~4 ms), but it is node-wide, so it is re-checked in the
// background, off the pod's path, at most once per interval.
//
// On a cluster node (docs/cluster.md) traffic to other nodes' pods must keep the pod's address
// whatever --non-masquerade-cidr says: the rule then jumps to PODNET-CLUSTER-MASQ instead, which
// returns for the cluster CIDR(s) of its family and masquerades the rest. The chain is rewritten
// whole (one iptables-restore) at each check, and the kubelet's own form, if an earlier run left
// it, is removed. The exemption lives in its own chain so that no RETURN sits in POSTROUTING,
// where it would skip other components' rules (kube-proxy's hairpin masquerade).
import { ipFamily } from "../../../ip/index.js";
import { chainLine, type IPTables, restoreInput, ruleLine, ruleText } from "../../../kernel/iptables.js";
import { errorMessage } from "../../../util/error-message.js";
import type { Logger } from "../../core/log.js";
import { masqRuleArgs } from "./config.js";

export interface MasqueradeDeps {
  readonly nonMasqueradeCIDR: string;
  readonly iptables: IPTables;
  readonly iptables6: IPTables;
  /** Monotonic milliseconds. */
  readonly now: () => number;
  /** The least time between two background checks. */
  readonly recheckMs: number;
  readonly log: Logger;
  /** The cluster CIDRs (cluster networking): never masqueraded as destinations. */
  readonly clusterCIDRs?: readonly string[];
}

/** The chain kubenet's rule jumps to on a cluster node. */
export const CLUSTER_MASQ_CHAIN = "PODNET-CLUSTER-MASQ";
export const CLUSTER_EXEMPT_COMMENT = "podnet: pods of other nodes keep their addresses";

/** The restore payload that (re)writes PODNET-CLUSTER-MASQ: a RETURN per cluster CIDR, then MASQUERADE. */
export function clusterMasqRestore(clusterCIDRs: readonly string[]): string {
  return restoreInput("nat", [
    chainLine(CLUSTER_MASQ_CHAIN),
    ...clusterCIDRs.map((c) =>
      ruleLine({
        chain: CLUSTER_MASQ_CHAIN,
        spec: ruleText(["-d", c, "-m", "comment", "--comment", CLUSTER_EXEMPT_COMMENT, "-j", "RETURN"]),
      }),
    ),
    ruleLine({ chain: CLUSTER_MASQ_CHAIN, spec: "-j MASQUERADE" }),
  ]);
}

export class Masquerade {
  private readonly deps: MasqueradeDeps;
  private checkedAt = -Infinity;
  private pending: Promise<void> | undefined;

  constructor(deps: MasqueradeDeps) {
    this.deps = deps;
  }

  /** Makes sure the rule is there now; rejects when it cannot be made. */
  async ensure(): Promise<void> {
    await this.ensureRule();
    this.checkedAt = this.deps.now();
  }

  /** Re-checks the rule in the background, unless that was done less than recheckMs ago (or is under way). */
  recheck(): void {
    const { now, recheckMs, log } = this.deps;
    if (this.pending || now() - this.checkedAt < recheckMs) return;
    this.checkedAt = now();
    this.pending = this.ensureRule()
      .catch((e: unknown) => log.error("Failed to ensure MASQ rule", { err: e }))
      .finally(() => (this.pending = undefined));
  }

  /** Settles when no background check is running. */
  async settled(): Promise<void> {
    await this.pending;
  }

  private async ensureRule(): Promise<void> {
    const cidr = this.deps.nonMasqueradeCIDR;
    const args = masqRuleArgs(cidr);
    if (!args) return;
    const family = ipFamily(cidr);
    const ipt = family === 6 ? this.deps.iptables6 : this.deps.iptables;
    const exempt = (this.deps.clusterCIDRs ?? []).filter((c) => ipFamily(c) === family);
    try {
      if (exempt.length === 0) {
        await ipt.ensureRule("append", "nat", "POSTROUTING", args);
        return;
      }
      await ipt.restore(clusterMasqRestore(exempt));
      await ipt.ensureRule("append", "nat", "POSTROUTING", masqRuleArgs(cidr, CLUSTER_MASQ_CHAIN)!);
      await ipt.deleteRule("nat", "POSTROUTING", args);
    } catch (e) {
      throw new Error(`failed to ensure that nat chain POSTROUTING jumps to MASQUERADE: ${errorMessage(e)}`, {
        cause: e,
      });
    }
  }
}
