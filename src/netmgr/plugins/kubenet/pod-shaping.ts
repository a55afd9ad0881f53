// A pod's bandwidth limits under kubenet: the Shaper on cbr0 (shaper.ts), set up on first use, with
// one limit per pod address and direction. The classes can be made ahead, while the pod's address is
// still being allocated; the filters then only need the address. cbr0 itself is made by the bridge
// plugin during the first pod's ADD: until then nothing is made ahead (and nothing is wrong) — the
// first limited pod's classes are made with its filters, after the ADD.
import { ipFamily, type Family } from "../../../ip/index.js";
import type { Logger } from "../../core/log.js";
import type { PodBandwidth } from "../../core/bandwidth.js";
import { errorMessage } from "../../../util/error-message.js";
import { isNotFound } from "../../../kernel/errors.js";
import type { PreparedLimit, Shaper } from "./shaper.js";

/** The single-address CIDR a pod address is limited as. */
export const cidrOfIP = (ip: string): string => `${ip}/${ipFamily(ip) === 6 ? 128 : 32}`;

const limited = (bw: PodBandwidth) => bw.ingress !== undefined || bw.egress !== undefined;

export class PodShaping {
  private readonly shaper: Shaper;
  private readonly log: Logger;
  private interfaceReady = false;

  constructor(shaper: Shaper, log: Logger) {
    this.shaper = shaper;
    this.log = log;
  }

  /**
   * The shaper, with cbr0's root qdisc made on first use (a failure is logged and tried again next
   * time). `beforeAdd`: cbr0 may not exist yet (the first pod's ADD makes it) — then undefined, and
   * nothing logged.
   */
  private async ready(o: { beforeAdd?: boolean } = {}): Promise<Shaper | undefined> {
    if (!this.interfaceReady) {
      try {
        await this.shaper.reconcileInterface();
        this.interfaceReady = true;
      } catch (e) {
        if (o.beforeAdd && isNotFound(e)) return undefined;
        this.log.warn("failed to set up the shaper on cbr0", { err: e });
      }
    }
    return this.shaper;
  }

  /** The classes of a limited pod, one set per family, made now; those that cannot be are made by apply(). */
  async prepare(bw: PodBandwidth, families: readonly Family[]): Promise<Map<Family, PreparedLimit>> {
    const prepared = new Map<Family, PreparedLimit>();
    if (!limited(bw)) return prepared;
    const sh = await this.ready({ beforeAdd: true });
    if (!sh) return prepared; // no cbr0 yet: apply() makes the classes after the ADD
    for (const f of families) {
      try {
        prepared.set(f, sh.prepare(bw.egress, bw.ingress));
      } catch (e) {
        this.log.debug("could not make the shaping classes ahead; they are made after the ADD", { err: e });
      }
    }
    return prepared;
  }

  /** The pod's limits on each of its addresses (with the family's prepared classes, which are used up). */
  async apply(ips: readonly string[], bw: PodBandwidth, prepared?: Map<Family, PreparedLimit>): Promise<void> {
    if (!limited(bw)) return;
    const sh = (await this.ready())!;
    for (const ip of ips) {
      const family: Family = ipFamily(ip) === 6 ? 6 : 4;
      const p = prepared?.get(family);
      prepared?.delete(family);
      try {
        await (p ? p.commit(cidrOfIP(ip)) : sh.reconcileCIDR(cidrOfIP(ip), bw.egress, bw.ingress));
      } catch (e) {
        throw new Error(`failed to add pod to shaper: ${errorMessage(e)}`, { cause: e });
      }
    }
  }

  /** Drops prepared classes that were not used. */
  async cancel(prepared: ReadonlyMap<Family, PreparedLimit>): Promise<void> {
    for (const p of prepared.values())
      await p.cancel().catch((e: unknown) => this.log.warn("failed to remove unused shaping classes", { err: e }));
  }

  /** Removes the limits of the addresses (most pods have none: not finding one is no error). */
  async reset(ips: readonly string[]): Promise<void> {
    for (const ip of ips) {
      try {
        await this.shaper.reset(cidrOfIP(ip));
      } catch (e) {
        this.log.debug("failed to remove pod IP from shaper (most pods have no limit)", { ip, err: e });
      }
    }
  }

  /** What is missing of a pod's limits on cbr0. */
  async verify(ips: readonly string[], bw: PodBandwidth): Promise<string[]> {
    if (!limited(bw)) return [];
    const problems: string[] = [];
    for (const ip of ips) problems.push(...(await this.shaper.verify(cidrOfIP(ip), bw.egress, bw.ingress)));
    return problems;
  }

  /** Removes the limits of addresses no live pod has, and classes no filter points to; returns what went. */
  async removeStale(liveCIDRs: ReadonlySet<string>): Promise<string[]> {
    const sh = this.shaper;
    const released: string[] = [];
    for (const c of await sh.getCIDRs()) {
      if (liveCIDRs.has(c)) continue;
      await sh.reset(c).then(
        () => released.push(`shaping of ${c}`),
        (e: unknown) => this.log.warn("failed to reset a stale limit", { cidr: c, err: e }),
      );
    }
    // classes without a filter: made ahead of a filter that never came (a crash in between)
    for (const c of await sh.removeOrphanClasses()) released.push(`shaping class ${c}`);
    return released;
  }
}
