// A pod's hostports under kubenet, in both families: one HostportManager (hostport.ts) per family,
// each pod address handled by its family's, both families at once. The KUBE-HOSTPORTS chain and
// its jumps are made at init (the kubelet made them on the first hostPort pod), after which each
// pod's rules are one iptables-restore, started while the pod's address is still being allocated.
import { ipFamily, type Family } from "../../../ip/index.js";
import type { IPTables, PendingRestore } from "../../../kernel/iptables.js";
import { errorMessage } from "../../../util/error-message.js";
import type { Logger } from "../../core/log.js";
import type { PortMapping } from "../../core/plugin.js";
import { BRIDGE_NAME } from "./config.js";
import {
  HostportManager,
  hostportChainName,
  type ConntrackClearer,
  type PodPortMapping,
  type PortOpener,
} from "./hostport.js";

export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly sandboxID: string;
}

export interface PodHostportsDeps {
  readonly iptables: IPTables;
  readonly iptables6: IPTables;
  readonly openPort: PortOpener;
  readonly clearConntrack?: ConntrackClearer;
  readonly log: Logger;
}

const familyOf = (ip: string): Family => (ipFamily(ip) === 6 ? 6 : 4);

export class PodHostports {
  private readonly v4: HostportManager;
  private readonly v6: HostportManager;
  private readonly log: Logger;

  constructor(deps: PodHostportsDeps) {
    const common = {
      openPort: deps.openPort,
      ...(deps.clearConntrack ? { clearConntrack: deps.clearConntrack } : {}),
      log: deps.log,
    };
    this.v4 = new HostportManager({ iptables: deps.iptables, ...common });
    this.v6 = new HostportManager({ iptables: deps.iptables6, ...common });
    this.log = deps.log;
  }

  private of(family: Family): HostportManager {
    return family === 6 ? this.v6 : this.v4;
  }

  private mapping(pod: PodRef, portMappings: readonly PortMapping[], ip: string): PodPortMapping {
    return { namespace: pod.namespace, name: pod.name, portMappings, ip, hostNetwork: false };
  }

  /** KUBE-HOSTPORTS and its jumps now rather than on the first hostPort pod (~10 iptables processes on the pod's path otherwise). */
  async prime(): Promise<void> {
    await this.v4
      .prime(BRIDGE_NAME)
      .catch((e: unknown) =>
        this.log.warn("failed to prepare the hostport chains; the first hostPort pod will", { err: e }),
      );
  }

  /**
   * The restores of a pod with host ports, started now for each family, into `pending` (add()
   * commits or cancels them; the caller cancels what is left).
   */
  prepare(
    portMappings: readonly PortMapping[],
    families: readonly Family[],
    pending: Map<Family, PendingRestore>,
  ): void {
    if (!portMappings.some((pm) => pm.hostPort > 0)) return;
    for (const f of families) {
      const p = this.of(f).prepareAdd(BRIDGE_NAME);
      if (p) pending.set(f, p);
    }
  }

  /** The pod's rules and held ports for each of its addresses, both families at once; rejects with the first failure. */
  async add(
    pod: PodRef,
    ips: readonly string[],
    portMappings: readonly PortMapping[],
    pending?: ReadonlyMap<Family, PendingRestore>,
  ): Promise<void> {
    if (portMappings.length === 0) return;
    const rs = await Promise.allSettled(
      ips.map((ip) =>
        this.of(familyOf(ip)).add(
          pod.sandboxID,
          this.mapping(pod, portMappings, ip),
          BRIDGE_NAME,
          pending?.get(familyOf(ip)),
        ),
      ),
    );
    for (const r of rs) if (r.status === "rejected") throw r.reason;
  }

  /**
   * Removes the pod's rules and releases its ports; returns what failed. Without addresses (e.g. the
   * netns was gone at restart) the chains, named from the sandbox ID, still go (failures only logged).
   */
  async remove(
    pod: PodRef,
    ips: readonly string[] | undefined,
    portMappings: readonly PortMapping[],
  ): Promise<string[]> {
    const errs: string[] = [];
    if (!ips || ips.length === 0) {
      for (const m of [this.v4, this.v6]) {
        await m
          .remove(pod.sandboxID, this.mapping(pod, portMappings, ""))
          .catch((e: unknown) => this.log.warn("failed to remove hostports", { sandbox: pod.sandboxID, err: e }));
      }
      return errs;
    }
    if (portMappings.length === 0) return errs;
    for (const ip of ips) {
      try {
        await this.of(familyOf(ip)).remove(pod.sandboxID, this.mapping(pod, portMappings, ip));
      } catch (e) {
        errs.push(errorMessage(e));
      }
    }
    return errs;
  }

  /** What is missing of the pod's chains, jumps, DNATs and held ports. */
  async verify(pod: PodRef, ips: readonly string[], portMappings: readonly PortMapping[]): Promise<string[]> {
    const problems: string[] = [];
    for (const ip of ips)
      problems.push(...(await this.of(familyOf(ip)).verify(pod.sandboxID, this.mapping(pod, portMappings, ip))));
    return problems;
  }

  /** Removes the hostport chains of pods that are gone: those not among `live`'s mappings. */
  async removeStale(
    live: ReadonlyArray<{ readonly sandboxID: string; readonly portMappings: readonly PortMapping[] }>,
  ): Promise<string[]> {
    const keep = new Set<string>();
    for (const p of live)
      for (const pm of p.portMappings) if (pm.hostPort > 0) keep.add(hostportChainName(p.sandboxID, pm));
    const released: string[] = [];
    for (const m of [this.v4, this.v6]) {
      try {
        for (const c of await m.removeStaleChains(keep)) released.push(`hostport chain ${c}`);
      } catch (e) {
        this.log.warn("failed to remove stale hostport chains", { ipv6: m.ipv6, err: e });
      }
    }
    return released;
  }

  /** Lets go of the held ports (the rules stay). */
  async close(): Promise<void> {
    await this.v4.closeAll();
    await this.v6.closeAll();
  }
}
