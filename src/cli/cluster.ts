// `podnet cluster nodes [--json]` and `podnet cluster remove-node NAME` — the cluster's nodes as
// etcd has them (docs/cluster.md). "Routes in place" comes from the local `podnet node` (its
// GET /v1/cluster on --socket) when one is running in the same cluster; otherwise it is unknown.
import { readFile } from "node:fs/promises";
import {
  ClusterConfigError,
  type EtcdFlags,
  type LocalView,
  clusterNodes,
  clusterRemoveNode,
  listNodes,
  nodesJson,
  nodesTable,
  openEtcdStore,
} from "../cluster/index.js";
import { createApiClient } from "../netmgr/daemon/api-client.js";
import { DEFAULT_SOCKET } from "../netmgr/daemon/paths.js";
import { errorMessage } from "../util/error-message.js";
import { renderTable } from "./table.js";
import { exitCodes, parseCommandArgs, usageError } from "./args.js";

const USAGE = `usage: podnet cluster nodes [--json] --etcd-endpoints URL[,URL…] [flags]
       podnet cluster remove-node NAME --etcd-endpoints URL[,URL…] [flags]

  nodes         every node: name, node IP, pod CIDRs, backend, last heartbeat, and whether the
                local node's routes to it are in place (from the running \`podnet node\`; else unknown)
  remove-node   frees the node's block(s) and removes it from every node's routes (stop its
                \`podnet node\` first: a running node registers again)

flags:
  --etcd-endpoints URL[,URL…]   etcd v3 (http://HOST:PORT, https://HOST:PORT or unix:///PATH)
  --etcd-prefix PREFIX          the cluster's key prefix (default /podnet)
  --etcd-cafile FILE            TLS: the CA of etcd's server certificates, as \`podnet node\` takes it
  --etcd-certfile FILE          TLS: the client certificate (with --etcd-keyfile)
  --etcd-keyfile FILE           TLS: the client key (with --etcd-certfile)
  --socket PATH                 the local \`podnet node\`'s API (env PODNET_SOCKET, default ${DEFAULT_SOCKET})
  --json                        nodes: one JSON object per node
${exitCodes({ failure: "etcd failed, or remove-node: no such node (the error is on stderr)" })}`;

/** How long `nodes` waits for the local daemon before calling its routes unknown. */
const LOCAL_DAEMON_TIMEOUT_MS = 2000;

/** The local daemon's view of this cluster (undefined: not running, not a cluster node, or another cluster). */
async function localView(socket: string, prefix: string): Promise<LocalView | undefined> {
  try {
    const st = await createApiClient(socket, { timeoutMs: LOCAL_DAEMON_TIMEOUT_MS }).cluster();
    const etcd = st["etcd"] as { prefix?: unknown } | undefined;
    if (etcd?.prefix !== prefix || typeof st["node"] !== "string" || !Array.isArray(st["peers"])) return undefined;
    const inPlace = new Map<string, boolean>();
    for (const p of st["peers"] as Array<{ name?: unknown; routesInPlace?: unknown }>)
      if (typeof p.name === "string") inPlace.set(p.name, p.routesInPlace === true);
    return { self: st["node"], inPlace };
  } catch {
    return undefined;
  }
}

const ago = (ms: number) =>
  ms < 120_000
    ? `${Math.round(ms / 1000)} s`
    : ms < 7_200_000
      ? `${Math.round(ms / 60_000)} min`
      : `${Math.round(ms / 3_600_000)} h`;

export async function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const str = { type: "string" as const };
  const p = parseCommandArgs(
    "cluster",
    USAGE,
    args,
    {
      json: { type: "boolean" },
      socket: str,
      "etcd-endpoints": str,
      "etcd-prefix": str,
      "etcd-cafile": str,
      "etcd-certfile": str,
      "etcd-keyfile": str,
    },
    { positionals: true },
  );
  if (typeof p === "number") return p;
  const { values, positionals } = p;
  const [verb, ...rest] = positionals;
  const usage = (msg: string) => usageError(verb ? `cluster ${verb}` : "cluster", msg, USAGE);
  if (!verb) return usage("a command is needed: nodes or remove-node");
  if (verb !== "nodes" && verb !== "remove-node") return usage(`unknown command (want nodes or remove-node)`);
  if (verb === "nodes" && rest.length) return usage(`unexpected argument ${JSON.stringify(rest[0])}`);
  if (verb === "remove-node" && rest.length !== 1) return usage("needs exactly one node name");
  if (verb === "remove-node" && values.json) return usage("--json is for nodes");
  if (!values["etcd-endpoints"]) return usage("--etcd-endpoints is required");
  const flags: EtcdFlags = {
    endpoints: values["etcd-endpoints"],
    ...(values["etcd-prefix"] !== undefined ? { prefix: values["etcd-prefix"] } : {}),
    ...(values["etcd-cafile"] ? { cafile: values["etcd-cafile"] } : {}),
    ...(values["etcd-certfile"] ? { certfile: values["etcd-certfile"] } : {}),
    ...(values["etcd-keyfile"] ? { keyfile: values["etcd-keyfile"] } : {}),
  };
  let opened: Awaited<ReturnType<typeof openEtcdStore>>;
  try {
    opened = await openEtcdStore(flags, (p) => readFile(p));
  } catch (e) {
    if (e instanceof ClusterConfigError) return usage(e.message);
    throw e;
  }
  const { store, keys } = opened;
  try {
    if (verb === "nodes") {
      const rows = await clusterNodes(
        store,
        keys,
        await localView(values.socket ?? env["PODNET_SOCKET"] ?? DEFAULT_SOCKET, keys.prefix),
      );
      if (values.json) process.stdout.write(`${nodesJson(rows)}\n`);
      else if (rows.length === 0) process.stdout.write(`no nodes under ${keys.prefix}\n`);
      else {
        const [head, ...body] = nodesTable(rows, Date.now());
        process.stdout.write(renderTable(head!, body));
      }
      return 0;
    }
    const name = rest[0]!;
    const before = (await listNodes({ store, keys })).find((r) => r.name === name);
    const r = await clusterRemoveNode(store, keys, name);
    if (!r.removed) {
      process.stderr.write(`podnet cluster remove-node: no node named ${JSON.stringify(name)} under ${keys.prefix}\n`);
      return 1;
    }
    process.stdout.write(`removed node ${name}${r.blocks.length ? `; freed ${r.blocks.join(", ")}` : ""}\n`);
    if (r.wasAlive) {
      const last =
        before?.lastHeartbeat !== undefined
          ? ` (its last heartbeat was ${ago(Math.max(0, Date.now() - before.lastHeartbeat))} ago)`
          : "";
      process.stderr.write(
        `podnet cluster remove-node: warning: ${name} was still alive${last}: if its podnet node is running, it registers again (keeping its block while it is free); stop it first\n`,
      );
    }
    return 0;
  } catch (e) {
    process.stderr.write(`podnet cluster ${verb}: ${errorMessage(e)}\n`);
    return 1;
  } finally {
    store.close();
  }
}
