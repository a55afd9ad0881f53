// kubenet's one masquerade rule (for the family of --non-masquerade-cidr): traffic from pods to
// anything outside that range leaves with the node's address. Made at init; the kubelet re-ensured
// it after every pod (an `iptables -C`, ~4 ms), but it is node-wide, so it is re-checked in the
// background, off the pod's path, at most once per interval.
import { ipFamily } from "../../../ip/index.js";
import type { IPTables } from "../../../kernel/iptables.js";
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
    const ipt = ipFamily(cidr) === 6 ? this.deps.iptables6 : this.deps.iptables;
    try {
      await ipt.ensureRule("append", "nat", "POSTROUTING", args);
    } catch (e) {
      throw new Error(`failed to ensure that nat chain POSTROUTING jumps to MASQUERADE: ${errorMessage(e)}`, { cause: e });
    }
  }
}
