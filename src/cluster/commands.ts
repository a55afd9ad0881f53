// What `podnet cluster nodes [--json]` and `podnet cluster remove-node NAME` do, minus argv and
// printing: the CLI opens the store with openEtcdStore() and calls these.
import { type NodeRow, type RemoveResult, listNodes, removeNode } from "./allocator.js";
import type { KeyLayout } from "./keys.js";
import type { ClusterStore } from "./store.js";

export type { NodeRow, RemoveResult };

export interface NodeListing extends NodeRow {
  /** This node's routes to it are in place (from the running daemon; undefined when unknown). */
  readonly routesInPlace?: boolean;
  /** It is the node whose daemon answered. */
  readonly thisNode?: boolean;
}

/** What the local daemon (GET /v1/cluster) says: its own name and, per peer, whether its routes are in place. */
export interface LocalView {
  readonly self: string;
  readonly inPlace: ReadonlyMap<string, boolean>;
}

/** Every node, with "routes in place" from the local daemon's peers() when it is running. */
export async function clusterNodes(store: ClusterStore, keys: KeyLayout, local?: LocalView): Promise<NodeListing[]> {
  const rows = await listNodes({ store, keys });
  return rows.map((r) =>
    r.name === local?.self
      ? { ...r, thisNode: true }
      : local?.inPlace.has(r.name)
        ? { ...r, routesInPlace: local.inPlace.get(r.name)! }
        : r,
  );
}

/** The --json form: one object per node, heartbeat as an RFC 3339 time; routesInPlace null when unknown (no local daemon, or this node itself). */
export function nodesJson(rows: readonly NodeListing[]): string {
  return JSON.stringify(
    rows.map((r) => ({
      name: r.name,
      nodeIPs: r.nodeIPs,
      podCIDRs: r.podCIDRs,
      backend: r.backend,
      lastHeartbeat: r.lastHeartbeat !== undefined ? new Date(r.lastHeartbeat).toISOString() : null,
      routesInPlace: r.routesInPlace ?? null,
      ...(r.thisNode ? { thisNode: true } : {}),
    })),
    null,
    2,
  );
}

/** The table form's rows (header first); the CLI pads them into columns. */
export function nodesTable(rows: readonly NodeListing[], now: number): string[][] {
  const age = (t: number | undefined) => {
    if (t === undefined) return "expired";
    const s = Math.max(0, Math.round((now - t) / 1000));
    return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
  };
  return [
    ["NAME", "NODE IP", "POD CIDRS", "BACKEND", "LAST HEARTBEAT", "ROUTES"],
    ...rows.map((r) => [
      r.name,
      r.nodeIPs.join(","),
      r.podCIDRs.join(",") || "-",
      r.backend,
      age(r.lastHeartbeat),
      r.thisNode ? "(this node)" : r.routesInPlace === undefined ? "unknown" : r.routesInPlace ? "in place" : "missing",
    ]),
  ];
}

/** Frees a node's blocks and deletes its record and heartbeat. */
export function clusterRemoveNode(store: ClusterStore, keys: KeyLayout, name: string): Promise<RemoveResult> {
  return removeNode({ store, keys }, name);
}
