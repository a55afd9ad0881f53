// The RoutePort over the kernel layer: what podnet owns is read with `ip route show proto 152`,
// `ip neigh show dev podnet.vxlan` and `bridge fdb show brport podnet.vxlan`; changes go to the
// kernel as one netlink batch (`ip -force -batch -`), in the order the diff gave them, whatever
// their kind and family. Works on any NetOps: the real kernel, or the fake kernel in unit tests.
//
// Ownership: a route is podnet's when it carries PODNET_ROUTE_PROTOCOL in the main table; a
// neighbour or FDB entry when it is permanent on podnet's own VXLAN device. Nothing else is
// listed, replaced or deleted:
// - an added route is created exclusively (NLM_F_EXCL); when the kernel already has a route to
//   that destination (same metric), it is replaced only if that route is podnet's — a foreign one
//   (another protocol) is left alone and the change fails, naming it;
// - a route is deleted by destination and protocol, so the kernel never matches a foreign one.
// Deleting an entry that is already gone is not a failure: the state wanted is reached.
import { KernelError, isKernelError } from "../kernel/errors.js";
import { inetCidrText } from "../kernel/inet.js";
import type { NetBatchOp, NetOps, Route, RouteSpec } from "../kernel/types.js";
import {
  type ApplyResult,
  type Change,
  DEFAULT_VXLAN_DEVICE,
  type Entry,
  PODNET_ROUTE_PROTOCOL,
  type RoutePort,
} from "./routes.js";

const MAIN_TABLE = 254;
/** The metric the kernel gives a route without one: IPv4 0, IPv6 1024 (IP6_RT_PRIO_USER). */
const defaultMetric = (r: Route) => (r.family === 6 ? 1024 : 0);

export interface NetlinkRoutePortOptions {
  /** The VXLAN device whose permanent neighbour and FDB entries are podnet's (default podnet.vxlan). */
  readonly vxlanDevice?: string;
  /** The route protocol of podnet's routes (default PODNET_ROUTE_PROTOCOL, 152). */
  readonly protocol?: number;
}

export class NetlinkRoutePort implements RoutePort {
  private readonly ops: NetOps;
  private readonly dev: string;
  private readonly protocol: number;

  constructor(ops: NetOps, o: NetlinkRoutePortOptions = {}) {
    this.ops = ops;
    this.dev = o.vxlanDevice ?? DEFAULT_VXLAN_DEVICE;
    this.protocol = o.protocol ?? PODNET_ROUTE_PROTOCOL;
  }

  async list(): Promise<Entry[]> {
    const out: Entry[] = [];
    for (const r of await this.ops.routeList({ table: MAIN_TABLE, protocol: this.protocol })) {
      // podnet's VXLAN routes name their device and are onlink; its host-gw routes are neither.
      const onlink = (r.flags & 4) !== 0;
      out.push({ kind: "route", dst: r.dst, via: r.gw ?? "", ...(onlink ? { dev: r.dev ?? "", onlink: true } : {}) });
    }
    if (!(await this.ops.linkGet(this.dev))) return out;
    for (const f of await this.ops.fdbList({ dev: this.dev })) {
      if (f.self && f.permanent && f.dst !== undefined && f.dev === this.dev)
        out.push({ kind: "fdb", dev: this.dev, mac: f.mac, dst: f.dst });
    }
    for (const n of await this.ops.neighList({ dev: this.dev })) {
      if (n.permanent && n.mac !== undefined && n.dev === this.dev)
        out.push({ kind: "neigh", dev: this.dev, ip: n.ip, mac: n.mac });
    }
    return out;
  }

  async apply(changes: readonly Change[]): Promise<ApplyResult> {
    const failed: Array<{ change: Change; error: Error }> = [];
    if (changes.length === 0) return { failed };
    const results = await this.ops.batch(changes.map((c) => this.toOp(c)));
    // Routes whose destination was taken: podnet's own (replace it) or a foreign one (leave it).
    const taken: number[] = [];
    results.forEach((err, i) => {
      if (!err) return;
      const c = changes[i]!;
      if (c.op === "del" && isKernelError(err, "ENOENT", "ESRCH", "ENODEV")) return;
      if (c.op === "add" && c.entry.kind === "route" && isKernelError(err, "EEXIST")) taken.push(i);
      else failed.push({ change: c, error: err });
    });
    if (taken.length) {
      const wanted = new Set(taken.map((i) => routeDst((changes[i]!.entry as Extract<Entry, { kind: "route" }>).dst)));
      const holders = new Map<string, Route>();
      for (const r of await this.ops.routeList({ table: MAIN_TABLE })) {
        if (
          wanted.has(r.dst) &&
          (r.metric ?? 0) === defaultMetric(r) &&
          (!holders.has(r.dst) || r.protocol === this.protocol)
        )
          holders.set(r.dst, r);
      }
      const replace: number[] = [];
      for (const i of taken) {
        const c = changes[i]!;
        const e = c.entry as Extract<Entry, { kind: "route" }>;
        const h = holders.get(routeDst(e.dst));
        if (!h || h.protocol === this.protocol) replace.push(i);
        else {
          const what = `netlink RTM_NEWROUTE ${e.dst} via ${e.via} proto ${this.protocol}`;
          failed.push({
            change: c,
            error: new KernelError(what, "EEXIST", {
              extack: `the kernel's route to ${h.dst} has proto ${h.protocol}, not podnet's ${this.protocol}: podnet leaves it alone`,
            }),
          });
        }
      }
      if (replace.length) {
        const again = await this.ops.batch(replace.map((i) => this.toOp(changes[i]!, true)));
        again.forEach((err, j) => {
          if (err) failed.push({ change: changes[replace[j]!]!, error: err });
        });
      }
    }
    return { failed };
  }

  /** The kernel operation of a change: neighbour and FDB entries are replaced, routes created (or replaced when `replaceRoute`). */
  private toOp(c: Change, replaceRoute = false): NetBatchOp {
    const e = c.entry;
    const add = c.op === "add";
    switch (e.kind) {
      case "route": {
        const route: RouteSpec = add
          ? {
              dst: e.dst,
              gw: e.via,
              protocol: this.protocol,
              ...(e.dev !== undefined ? { dev: e.dev } : {}),
              ...(e.onlink ? { onlink: true } : {}),
            }
          : { dst: e.dst, protocol: this.protocol };
        return { op: add ? (replaceRoute ? "routeReplace" : "routeAdd") : "routeDel", route };
      }
      case "neigh":
        return add
          ? { op: "neighReplace", neigh: { dev: e.dev, ip: e.ip, mac: e.mac } }
          : { op: "neighDel", neigh: { dev: e.dev, ip: e.ip } };
      case "fdb":
        return add
          ? { op: "fdbReplace", fdb: { dev: e.dev, mac: e.mac, dst: e.dst } }
          : { op: "fdbDel", fdb: { dev: e.dev, mac: e.mac, dst: e.dst } };
    }
  }
}

/** A destination in the kernel's text, as routeList reports it. */
function routeDst(dst: string): string {
  return inetCidrText(dst) ?? dst;
}
