// The noop plugin (kubernetes.io/no-op): the default. It only makes bridged traffic visible to
// iptables (bridge-nf-call-iptables=1, and since 1.21 the ip6tables twin), so kube-proxy works with
// a plain bridge. Everything else succeeds doing nothing. podnet reports a missing br_netfilter as a
// warning instead of only logging it.
import { type NetworkPlugin, NOOP_PLUGIN_NAME } from "../../core/plugin.js";
import { type BrNetfilterDeps, enableBridgeNetfilter } from "../br-netfilter.js";

export function createNoopPlugin(deps: BrNetfilterDeps): NetworkPlugin {
  let warnings: string[] = [];
  return {
    async init() {
      warnings = await enableBridgeNetfilter(deps);
    },
    event() {},
    name: () => NOOP_PLUGIN_NAME,
    capabilities: () => new Set<number>(),
    async setUpPod() {},
    async tearDownPod() {},
    async getPodNetworkStatus() {
      return null;
    },
    status: () => null,
    warnings: () => warnings,
  };
}
