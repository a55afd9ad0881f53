// Bridge-port operations the kernel layer does not offer yet (listing a port's VLANs, the `isolated`
// flag), done with iproute2's `bridge` tool through the injected Exec. Both are rare paths: only
// `vlan`/`vlanTrunk` with preserveDefaultVlan=false, and `portIsolation: true`.
import type { Exec } from "../../../kernel/exec.js";

export interface PortOps {
  /** `bridge -j vlan show dev NAME`: the VLAN ids configured on a bridge port. */
  vlanList(dev: string): Promise<number[]>;
  /** `bridge link set dev NAME isolated on|off` */
  setIsolated(dev: string, on: boolean): Promise<void>;
}

/** `bridge -j vlan show` output → VLAN ids of `dev` (ranges expanded). */
export function parseVlanShow(json: string, dev: string): number[] {
  const text = json.trim();
  if (text === "") return [];
  const rows = JSON.parse(text) as Array<{ ifname?: string; vlans?: Array<{ vlan?: number; vlanEnd?: number }> }>;
  const out: number[] = [];
  for (const row of rows) {
    if (row.ifname !== dev) continue;
    for (const v of row.vlans ?? []) {
      if (typeof v.vlan !== "number") continue;
      for (let id = v.vlan; id <= (v.vlanEnd ?? v.vlan); id++) out.push(id);
    }
  }
  return out;
}

export function bridgeToolPortOps(exec: Exec): PortOps {
  return {
    async vlanList(dev) {
      return parseVlanShow(await exec.run(["bridge", "-j", "vlan", "show", "dev", dev]), dev);
    },
    async setIsolated(dev, on) {
      await exec.run(["bridge", "link", "set", "dev", dev, "isolated", on ? "on" : "off"]);
    },
  };
}
