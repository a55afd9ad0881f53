// Routing between nodes as desired state, pure: for each peer, the kernel entries that carry its
// pod CIDRs, and the ordered changes that turn what the kernel has into what is wanted.
//   host-gw: "ip route replace BLOCK via PEER_NODE_IP proto podnet" when the peer's node IP is on
//            one of this node's directly connected subnets;
//   vxlan:   flannel's layout: the peer's VTEP address is its block's network address,
//            "ip route replace BLOCK via VTEP_ADDR dev VXLAN_DEV onlink proto podnet",
//            "ip neigh replace VTEP_ADDR lladdr PEER_MAC dev VXLAN_DEV nud permanent",
//            "bridge fdb replace PEER_MAC dev VXLAN_DEV dst PEER_NODE_IP self permanent".
// --backend=auto picks per peer (and per family): host-gw when it can, else vxlan.
import {
  type Cidr,
  type Family,
  cidrContains,
  ipEqual,
  parseCidr,
  parseIP,
  tryParseIP,
  formatIP,
} from "../ip/index.js";
import type { Backend, NodeRecord, VtepInfo } from "./node-record.js";
import { v4Contains, v4Network, v4Value } from "./ip-fast.js";

/**
 * The route protocol podnet marks its routes with ("proto 152" in `ip route`). Not in iproute2's
 * rt_protos (0-4, 8-16, 18, 42, 99, 186-192), nor used by other CNIs that set one (Calico 80,
 * Cilium "kernel", bird 12, zebra 11). podnet lists, changes and deletes only routes with it.
 */
export const PODNET_ROUTE_PROTOCOL = 152;

/** The VXLAN device every node creates when any peer needs it (flannel's is "flannel.1"). */
export const DEFAULT_VXLAN_DEVICE = "podnet.vxlan";
/** VNI and UDP port (IANA's 4789; Linux's own default is 8472). */
export const DEFAULT_VXLAN_VNI = 1;
export const DEFAULT_VXLAN_PORT = 4789;

/** Bytes VXLAN adds: outer IP (20 or 40) + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD: Readonly<Record<Family, number>> = { 4: 50, 6: 70 };

export type Entry =
  | {
      readonly kind: "route";
      readonly dst: string;
      readonly via: string;
      readonly dev?: string;
      readonly onlink?: boolean;
    }
  | { readonly kind: "fdb"; readonly dev: string; readonly mac: string; readonly dst: string }
  | { readonly kind: "neigh"; readonly dev: string; readonly ip: string; readonly mac: string };

/** "add" creates or replaces (NLM_F_CREATE|NLM_F_REPLACE); "del" removes. */
export interface Change {
  readonly op: "add" | "del";
  readonly entry: Entry;
}

/** This node as routing sees it. */
export interface SelfView {
  readonly name: string;
  readonly nodeIPs: readonly string[];
  readonly podCIDRs: readonly string[];
  /** Subnets of this node's addresses (e.g. "192.168.1.10/24" as "192.168.1.0/24"). */
  readonly connected: readonly string[];
  readonly backend: Backend;
  /** This node's VXLAN endpoint; absent: it cannot use VXLAN. */
  readonly vtep?: VtepInfo;
  readonly vxlanDevice?: string;
}

export type PeerMode = "host-gw" | "vxlan" | "mixed" | "none";

export interface PeerPlan {
  readonly name: string;
  readonly mode: PeerMode;
  readonly entries: readonly Entry[];
  /** Why some of its blocks get no route (e.g. host-gw asked for a peer on another subnet). */
  readonly problems: readonly string[];
}

/** The identity of an entry: what the kernel keys it by (one route per destination). */
export function entryKey(e: Entry): string {
  switch (e.kind) {
    case "route":
      return `route ${e.dst}`;
    case "fdb":
      return `fdb ${e.dev} ${e.mac}`;
    case "neigh":
      return `neigh ${e.dev} ${e.ip}`;
  }
}

/** The entry as `ip`/`bridge` would print it (logs, messages). */
export function describeEntry(e: Entry): string {
  switch (e.kind) {
    case "route":
      return `route ${e.dst} via ${e.via}${e.dev ? ` dev ${e.dev}` : ""}${e.onlink ? " onlink" : ""}`;
    case "fdb":
      return `fdb ${e.mac} dev ${e.dev} dst ${e.dst}`;
    case "neigh":
      return `neigh ${e.ip} lladdr ${e.mac} dev ${e.dev}`;
  }
}

function sameEntry(a: Entry, b: Entry): boolean {
  if (a.kind === "route" && b.kind === "route")
    return a.dst === b.dst && a.via === b.via && a.dev === b.dev && Boolean(a.onlink) === Boolean(b.onlink);
  if (a.kind === "fdb" && b.kind === "fdb") return a.dev === b.dev && a.mac === b.mac && a.dst === b.dst;
  if (a.kind === "neigh" && b.kind === "neigh") return a.dev === b.dev && a.ip === b.ip && a.mac === b.mac;
  return false;
}

interface ParsedSelf {
  readonly view: SelfView;
  readonly connected: Cidr[];
  readonly ips: ReturnType<typeof parseIP>[];
  readonly dev: string;
  /** IPv4 fast path: connected subnets and own addresses as numbers. */
  readonly connected4: Array<[number, number]>;
  readonly ips4: number[];
}

/** Parses the self view once, for planning many peers. */
export function parseSelf(view: SelfView): ParsedSelf {
  const connected = view.connected.map((c) => parseCidr(c));
  const ips = view.nodeIPs.map((s) => parseIP(s));
  const connected4 = connected
    .filter((c) => c.network.family === 4)
    .map((c): [number, number] => [Number(c.network.value), c.prefix]);
  const ips4 = ips.filter((i) => i.family === 4).map((i) => Number(i.value));
  return { view, connected, ips, dev: view.vxlanDevice ?? DEFAULT_VXLAN_DEVICE, connected4, ips4 };
}

/** The peer's gateway address of a family and whether it is directly reachable (host-gw). */
function gatewayOf(self: ParsedSelf, peer: NodeRecord, family: Family): { text: string; direct: boolean } | undefined {
  for (const s of peer.nodeIPs) {
    const v4 = v4Value(s);
    if (v4 !== undefined) {
      if (family !== 4) continue;
      return { text: s, direct: !self.ips4.includes(v4) && self.connected4.some((c) => v4Contains(c, v4)) };
    }
    const ip = tryParseIP(s);
    if (!ip || ip.family !== family) continue;
    return {
      text: formatIP(ip),
      direct: !self.ips.some((m) => ipEqual(m, ip)) && self.connected.some((c) => cidrContains(c, ip)),
    };
  }
  return undefined;
}

const familyOfBlock = (text: string): Family => (text.includes(":") ? 6 : 4);

/** The VTEP address of a peer's block: its network address (flannel's convention). */
function vtepAddress(text: string): string {
  const slash = text.indexOf("/");
  if (v4Network(text)) return text.slice(0, slash);
  return formatIP(parseCidr(text).network);
}

const NO_PROBLEMS: readonly string[] = Object.freeze([]);

/** The desired entries for one peer. */
export function planPeer(self: ParsedSelf, peer: NodeRecord): PeerPlan {
  const entries: Entry[] = [];
  // a plan is kept for every peer: most have no problem, and share one empty list
  const problems: string[] = [];
  let hostGw = false;
  let vxlan = false;
  const dev = self.dev;
  const underlay = peer.nodeIPs[0];
  let fdbDone = false;
  for (const text of peer.podCIDRs) {
    const f = familyOfBlock(text);
    const gw = gatewayOf(self, peer, f);
    const backend = self.view.backend;
    if (backend !== "vxlan" && gw?.direct) {
      entries.push({ kind: "route", dst: text, via: gw.text });
      hostGw = true;
      continue;
    }
    if (backend === "host-gw") {
      problems.push(
        gw
          ? `${text}: --backend=host-gw, but node IP ${gw.text} of ${peer.name} is not on a directly connected subnet of this node`
          : `${text}: --backend=host-gw, but ${peer.name} has no IPv${f} node IP`,
      );
      continue;
    }
    if (!self.view.vtep) {
      problems.push(`${text}: needs VXLAN, but this node has no VXLAN endpoint`);
      continue;
    }
    if (!peer.vtep || !underlay) {
      problems.push(`${text}: needs VXLAN, but ${peer.name} has no VXLAN endpoint (its --backend=${peer.backend})`);
      continue;
    }
    const vtepAddr = vtepAddress(text);
    if (!fdbDone) {
      entries.push({ kind: "fdb", dev, mac: peer.vtep.mac, dst: underlay });
      fdbDone = true;
    }
    entries.push({ kind: "neigh", dev, ip: vtepAddr, mac: peer.vtep.mac });
    entries.push({ kind: "route", dst: text, via: vtepAddr, dev, onlink: true });
    vxlan = true;
  }
  const mode: PeerMode = hostGw && vxlan ? "mixed" : hostGw ? "host-gw" : vxlan ? "vxlan" : "none";
  return { name: peer.name, mode, entries, problems: problems.length > 0 ? problems : NO_PROBLEMS };
}

/** The desired entries for every peer (self excluded by name). */
export function planAll(self: SelfView, peers: Iterable<NodeRecord>): Map<string, PeerPlan> {
  const s = parseSelf(self);
  const out = new Map<string, PeerPlan>();
  for (const p of peers) if (p.name !== self.name) out.set(p.name, planPeer(s, p));
  return out;
}

const ORDER: Record<Entry["kind"], number> = { fdb: 0, neigh: 1, route: 2 };

/**
 * The changes that turn `actual` into `desired`: deletions first (routes, then neighbours, then
 * FDB entries: never a route left pointing at a removed neighbour), then additions in the reverse
 * order. An entry present with different content is replaced, not deleted and added.
 */
export function diffEntries(desired: Iterable<Entry>, actual: Iterable<Entry>): Change[] {
  const want = new Map<string, Entry>();
  for (const e of desired) want.set(entryKey(e), e);
  const have = new Map<string, Entry>();
  for (const e of actual) have.set(entryKey(e), e);
  const dels: Entry[] = [];
  const adds: Entry[] = [];
  for (const [k, e] of have) if (!want.has(k)) dels.push(e);
  for (const [k, e] of want) {
    const h = have.get(k);
    if (!h || !sameEntry(h, e)) adds.push(e);
  }
  dels.sort((a, b) => ORDER[b.kind] - ORDER[a.kind]);
  adds.sort((a, b) => ORDER[a.kind] - ORDER[b.kind]);
  return [
    ...dels.map((entry) => ({ op: "del" as const, entry })),
    ...adds.map((entry) => ({ op: "add" as const, entry })),
  ];
}

/**
 * diffEntries for peers changed one by one: each pair is what was applied for a peer and what is
 * wanted now (undefined: nothing). A new peer is all additions, a gone one all deletions, an
 * unchanged one nothing — no key maps for the common cases. The batch keeps diffEntries' order:
 * every deletion (routes, neighbours, FDB entries) before every addition (the other way round).
 */
export function diffPeers(
  pairs: Iterable<readonly [readonly Entry[] | undefined, readonly Entry[] | undefined]>,
): Change[] {
  const dels: Entry[] = [];
  const adds: Entry[] = [];
  for (const [old, next] of pairs) {
    if (!old || old.length === 0) {
      if (next) for (const e of next) adds.push(e);
    } else if (!next || next.length === 0) {
      for (const e of old) dels.push(e);
    } else if (old.length !== next.length || old.some((e, i) => !sameEntry(e, next[i]!))) {
      for (const c of diffEntries(next, old)) (c.op === "del" ? dels : adds).push(c.entry);
    }
  }
  dels.sort((a, b) => ORDER[b.kind] - ORDER[a.kind]);
  adds.sort((a, b) => ORDER[a.kind] - ORDER[b.kind]);
  const out: Change[] = [];
  for (const entry of dels) out.push({ op: "del", entry });
  for (const entry of adds) out.push({ op: "add", entry });
  return out;
}

/**
 * The pods' MTU: the uplink's MTU, less VXLAN's overhead for the underlay's family when any peer
 * is reached over VXLAN (the pods cannot know which peer a packet goes to).
 */
export function podMtu(linkMtu: number, modes: Iterable<PeerMode>, underlayFamily: Family): number {
  for (const m of modes) if (m === "vxlan" || m === "mixed") return linkMtu - VXLAN_OVERHEAD[underlayFamily];
  return linkMtu;
}

/** The kernel side of routing: what podnet owns now, and applying a batch of changes. */
export interface RoutePort {
  /**
   * The entries podnet owns: routes with PODNET_ROUTE_PROTOCOL in the main table, and the
   * permanent FDB and neighbour entries on the VXLAN device. Nothing else is ever listed, changed
   * or deleted.
   */
  list(): Promise<Entry[]>;
  /**
   * Applies the changes in order, in as few kernel round trips as the port can (a netlink batch:
   * one message per change, the kernel answering each failure). A failed change does not stop the
   * others; the result names each failure.
   */
  apply(changes: readonly Change[]): Promise<ApplyResult>;
}

export interface ApplyResult {
  readonly failed: ReadonlyArray<{ readonly change: Change; readonly error: Error }>;
}

/** The in-memory RoutePort: a table of entries, the batches it was given, injectable failures. */
export class FakeRoutePort implements RoutePort {
  readonly table = new Map<string, Entry>();
  readonly batches: Change[][] = [];
  /** Return an Error to make that change fail. */
  failWith: ((c: Change) => Error | undefined) | undefined;

  async list(): Promise<Entry[]> {
    return [...this.table.values()];
  }

  async apply(changes: readonly Change[]): Promise<ApplyResult> {
    this.batches.push([...changes]);
    const failed: Array<{ change: Change; error: Error }> = [];
    for (const c of changes) {
      const err = this.failWith?.(c);
      if (err) {
        failed.push({ change: c, error: err });
        continue;
      }
      const k = entryKey(c.entry);
      if (c.op === "add") this.table.set(k, c.entry);
      else if (!this.table.delete(k))
        failed.push({ change: c, error: new Error(`${describeEntry(c.entry)}: no such entry`) });
    }
    return { failed };
  }
}
