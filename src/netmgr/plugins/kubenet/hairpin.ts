// The promiscuous-bridge hairpin mode (the kubelet's default for kubenet): cbr0 in promiscuous mode,
// so that a pod reaches itself through a service, and the ebtables dedup rules that drop the
// duplicate frames promiscuous mode lets through (ebtables.ts).
import type { NetOps } from "../../../kernel/types.js";
import { formatNetwork } from "../../../ip/index.js";
import { errorMessage } from "../../../util/error-message.js";
import type { Logger } from "../../core/log.js";
import { BRIDGE_NAME, type PodCIDRs } from "./config.js";
import type { EbtablesDedup } from "./ebtables.js";

/**
 * cbr0 promiscuous (rejects when cbr0 is missing or cannot be set); returns the dedup sync, which
 * is best effort and never rejects (ebtables, once per node).
 */
export async function promiscuousBridge(
  ops: NetOps,
  ebtables: EbtablesDedup,
  cidrs: PodCIDRs,
  log: Logger,
): Promise<{ dedup: Promise<void> }> {
  const link = await ops.linkGet(BRIDGE_NAME);
  if (!link) throw new Error(`failed to lookup "${BRIDGE_NAME}": Link not found`);
  if (!link.promisc) {
    try {
      await ops.linkSetPromisc(BRIDGE_NAME, true);
    } catch (e) {
      throw new Error(`error setting promiscuous mode on ${BRIDGE_NAME}: ${errorMessage(e)}`, { cause: e });
    }
  }
  const pairs = cidrs.cidrs.map((c, i) => ({ gateway: cidrs.gateways[i]!, podCIDR: formatNetwork(c) }));
  const dedup = ebtables.sync(link.mac, pairs).then(
    (warning) => void (warning && log.warn(warning)),
    (e: unknown) => log.warn("failed to sync the ebtables dedup rules", { err: e }),
  );
  return { dedup };
}
