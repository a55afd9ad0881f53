// kubenet's duplicate-packet filter for promiscuous-bridge mode (syncEbtablesDedupRules): frames
// leaving cbr0 towards a veth with the bridge's own MAC are accepted only from the gateway address;
// anything else from the pod range with that MAC is a duplicate and dropped. Best effort: a missing
// ebtables only skips it.
import { ExecError, type Exec } from "../../../kernel/exec.js";
import { ipFamily } from "../../../ip/index.js";

export const DEDUP_CHAIN = "KUBE-DEDUP";

export interface DedupPair {
  readonly gateway: string;
  /** The pod CIDR (network address form). */
  readonly podCIDR: string;
}

/** The rules per (gateway, pod CIDR): [prepended ACCEPT, appended DROP] argument lists. */
export function dedupRules(mac: string, pair: DedupPair): { accept: string[]; drop: string[] } {
  const v6 = ipFamily(pair.gateway) === 6;
  const common = ["-p", v6 ? "IPv6" : "IPv4", "-s", mac, "-o", "veth+"];
  const src = v6 ? "--ip6-src" : "--ip-src";
  return {
    accept: [...common, src, pair.gateway, "-j", "ACCEPT"],
    drop: [...common, src, pair.podCIDR, "-j", "DROP"],
  };
}

/** True when `ebtables -L CHAIN --Lmac2` prints the rule (the kubelet's exact-line test). */
export function listingHasRule(listing: string, args: readonly string[]): boolean {
  const rule = args.join(" ");
  return listing.split("\n").some((l) => l.trim() === rule);
}

export interface EbtablesDedup {
  /** Returns a warning when the rules could not be synced (never throws). */
  sync(mac: string, pairs: readonly DedupPair[]): Promise<string | undefined>;
}

/**
 * The kubelet re-synced on every pod; the rules only depend on cbr0's MAC and the pod CIDRs, so a
 * sync that succeeded is not repeated for the same inputs (saves ~40 ms of ebtables per pod).
 */
export function createEbtablesDedup(exec: Exec): EbtablesDedup {
  const eb = (...args: string[]) => exec.run(["ebtables", "-t", "filter", ...args]);
  let flushed = false;
  let synced = "";
  return {
    async sync(mac, pairs) {
      const key = JSON.stringify([mac, pairs]);
      if (key === synced) return undefined;
      if (!flushed) {
        flushed = true;
        await eb("-F", DEDUP_CHAIN).catch(() => {});
      }
      try {
        await exec.run(["ebtables", "--version"]);
      } catch (e) {
        return `failed to get ebtables version, skipping the dedup rules: ${(e as Error).message}`;
      }
      try {
        try {
          await eb("-N", DEDUP_CHAIN);
        } catch (e) {
          if (!(e instanceof ExecError && e.exitCode === 1)) throw e; // exists already
        }
        const out = await eb("-L", "OUTPUT");
        if (!listingHasRule(out, ["-j", DEDUP_CHAIN])) await eb("-A", "OUTPUT", "-j", DEDUP_CHAIN);
        for (const p of pairs) {
          const r = dedupRules(mac, p);
          const listing = await eb("-L", DEDUP_CHAIN, "--Lmac2");
          if (!listingHasRule(listing, r.accept)) await eb("-I", DEDUP_CHAIN, ...r.accept);
          if (!listingHasRule(listing, r.drop)) await eb("-A", DEDUP_CHAIN, ...r.drop);
        }
        synced = key;
        return undefined;
      } catch (e) {
        return `failed to sync the ebtables dedup rules: ${(e as Error).message}`;
      }
    },
  };
}
