// `podnet pod add|del|status|list` — talks to a running `podnet node` over its unix socket
// (--socket, or PODNET_SOCKET, default /run/podnet/podnet.sock).
import { formatBytes } from "../cni/index.js";
import { BoundedReadError, readFdUpTo, readFileBounded } from "../kernel/read-bounded.js";
import { ApiError, createApiClient } from "../netmgr/daemon/api-client.js";
import { formatRate } from "../netmgr/core/bandwidth.js";
import { DEFAULT_SOCKET } from "../netmgr/daemon/paths.js";
import {
  MAX_MANIFEST_BYTES,
  PodManifestError,
  parsePodDocument,
  podFromObject,
} from "../netmgr/sandbox/pod-manifest.js";
import type { PodStatusView, PodView } from "../netmgr/sandbox/runtime.js";
import { exitCodes, parseCommandArgs, usageError } from "./args.js";
import { renderTable } from "./table.js";

const USAGE = `usage: podnet pod add -f POD.yaml [--netns PATH] [--json]
       podnet pod del NAMESPACE/NAME
       podnet pod status NAMESPACE/NAME [--json]
       podnet pod list [--json]
  --socket PATH   the daemon's socket (env PODNET_SOCKET, default ${DEFAULT_SOCKET})
  -f, --file      add: the Pod manifest (YAML or JSON; "-": stdin)
  --netns PATH    add: an existing network namespace for the pod
  --json          print JSON
${exitCodes({ more: ["3  the pod is not there"] })}`;

function podRef(s: string | undefined): { namespace: string; name: string } | undefined {
  if (!s) return undefined;
  const i = s.indexOf("/");
  return i < 0 ? { namespace: "default", name: s } : { namespace: s.slice(0, i), name: s.slice(i + 1) };
}

export const hostPortsText = (v: Pick<PodView, "hostPorts">): string =>
  v.hostPorts
    .map((p) => `${p.hostIP ? `${p.hostIP}:` : ""}${p.hostPort}→${p.containerPort}/${p.protocol.toLowerCase()}`)
    .join(", ") || "-";

export const limitsText = (v: Pick<PodView, "bandwidth">): string => {
  const parts = [
    ...(v.bandwidth.ingress !== undefined ? [`in ${formatRate(v.bandwidth.ingress)}`] : []),
    ...(v.bandwidth.egress !== undefined ? [`out ${formatRate(v.bandwidth.egress)}`] : []),
  ];
  return parts.join(", ") || "-";
};

function describe(v: PodView | PodStatusView): string {
  const lines = [
    `pod ${v.namespace}/${v.name}`,
    `  sandbox   ${v.sandboxID}`,
    `  netns     ${v.hostNetwork ? "(host network)" : v.netns}`,
    `  ips       ${v.ips.join(", ") || "-"}`,
    `  hostPorts ${hostPortsText(v)}`,
    `  limits    ${limitsText(v)}`,
    `  plugin    ${v.plugin}`,
    `  phase     ${v.phase}${v.setupMs !== undefined ? ` (set up in ${v.setupMs} ms)` : ""}`,
  ];
  if (v.reason) lines.push(`  reason    ${v.reason}`);
  if ("statusError" in v && v.statusError) lines.push(`  status    error: ${v.statusError}`);
  return `${lines.join("\n")}\n`;
}

/** The manifest's text, never more than MAX_MANIFEST_BYTES read ("-" is stdin). */
function readManifest(file: string): string {
  if (file !== "-") return readFileBounded(file, MAX_MANIFEST_BYTES, { anyFile: true }).toString("utf8");
  const { bytes, blocked } = readFdUpTo(0, MAX_MANIFEST_BYTES);
  if (blocked) throw new Error("stdin is non-blocking; use -f FILE");
  if (bytes.length > MAX_MANIFEST_BYTES) throw new BoundedReadError("EFBIG", "stdin is too large");
  return bytes.toString("utf8");
}

export async function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const p = parseCommandArgs(
    "pod",
    USAGE,
    args,
    {
      file: { type: "string", short: "f" },
      netns: { type: "string" },
      socket: { type: "string" },
      json: { type: "boolean" },
    },
    { positionals: true },
  );
  if (typeof p === "number") return p;
  const values = p.values;
  const [verb, target] = p.positionals;
  if (!verb) return usageError("pod", "which command? add, del, status or list", USAGE);
  const client = createApiClient(values.socket ?? env["PODNET_SOCKET"] ?? DEFAULT_SOCKET);
  const out = (v: unknown, text: string) =>
    process.stdout.write(values.json ? `${JSON.stringify(v, null, 2)}\n` : text);
  try {
    switch (verb) {
      case "add": {
        if (!values.file) return usageError("pod add", "-f POD.yaml is required", USAGE);
        let text: string;
        try {
          text = readManifest(values.file);
        } catch (e) {
          const why =
            e instanceof BoundedReadError && e.errno === "EFBIG"
              ? `larger than ${formatBytes(MAX_MANIFEST_BYTES)} (a Pod manifest is a few KiB)`
              : (e as Error).message;
          process.stderr.write(`podnet pod add: cannot read ${values.file}: ${why}\n`);
          return 1;
        }
        let doc: unknown;
        try {
          doc = parsePodDocument(text);
          podFromObject(doc); // field-naming errors before anything reaches the daemon
        } catch (e) {
          if (e instanceof PodManifestError) {
            process.stderr.write(`podnet pod add: ${values.file}: ${e.message}\n`);
            return 1;
          }
          throw e;
        }
        const v = await client.addPod(doc, values.netns);
        out(
          v,
          v.hostNetwork
            ? `pod ${v.namespace}/${v.name} uses the host network: networking skipped\n`
            : `${v.ips.join(" ")}\n`,
        );
        return 0;
      }
      case "del": {
        const ref = podRef(target);
        if (!ref) break;
        const v = await client.deletePod(ref.namespace, ref.name);
        out(v, `pod ${v.namespace}/${v.name} deleted\n`);
        return 0;
      }
      case "status": {
        const ref = podRef(target);
        if (!ref) break;
        const v = await client.podStatus(ref.namespace, ref.name);
        out(v, describe(v));
        return 0;
      }
      case "list": {
        const pods = await client.listPods();
        out(
          pods,
          pods.length === 0
            ? "no pods\n"
            : renderTable(
                ["NAMESPACE/NAME", "IPS", "HOSTPORTS", "LIMITS", "SANDBOX", "PHASE"],
                pods.map((p) => [
                  `${p.namespace}/${p.name}`,
                  p.hostNetwork ? "(host)" : p.ips.join(", ") || "-",
                  hostPortsText(p),
                  limitsText(p),
                  p.sandboxID.slice(0, 12),
                  p.phase,
                ]),
              ),
        );
        return 0;
      }
    }
  } catch (e) {
    if (e instanceof ApiError) {
      process.stderr.write(`podnet pod ${verb}: ${e.message}\n`);
      return e.status === 404 ? 3 : 1;
    }
    process.stderr.write(`podnet pod ${verb}: ${(e as Error).message}\n`);
    return 1;
  }
  return usageError(
    `pod ${verb}`,
    ["del", "status"].includes(verb) ? "NAMESPACE/NAME is missing" : `unknown command ${JSON.stringify(verb)}`,
    USAGE,
  );
}
