// `podnet cni add|check|del|status|gc|version NET NETNS` — cnitool's interface over podnet's runtime.
// Env: NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_IFNAME (eth0), CNI_ARGS, CAP_ARGS,
// CNI_CACHE_DIR (default /var/lib/cni). The container ID is derived from the netns path as cnitool does.
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { CniCode, CniError, isObject, jsonKind, plainObject, readJson, resultToJSON, toCniError } from "../cni/index.js";
import { nodeRawExec } from "../kernel/exec.js";
import { CniRuntime, DEFAULT_CONF_DIR, loadNetworkConf, splitCniPath } from "../libcni/index.js";
import { pluginEnv } from "./env.js";

const USAGE = `usage: podnet cni add|check|del|status|gc|version NETNAME [NETNS]
  env: NETCONFPATH (default ${DEFAULT_CONF_DIR}), CNI_PATH, CNI_IFNAME (default eth0),
       CNI_ARGS ("K=V;K=V"), CAP_ARGS (JSON object), CNI_CACHE_DIR (default /var/lib/cni)
`;

/** cnitool: "cnitool-" + the first 20 hex characters of sha512(absolute netns path). */
export function containerIdForNetns(netns: string): string {
  return "cnitool-" + createHash("sha512").update(resolve(netns)).digest("hex").slice(0, 20);
}

/** cnitool's CNI_ARGS parser: no empty keys or values. */
export function parseUserCniArgs(s: string): Array<[string, string]> {
  if (!s) return [];
  return s.split(";").map((kv) => {
    const i = kv.indexOf("=");
    const k = i < 0 ? kv : kv.slice(0, i);
    const v = i < 0 ? "" : kv.slice(i + 1);
    if (!k || !v) throw new CniError(CniCode.InvalidEnvironmentVariables, `CNI_ARGS: invalid pair "${kv}" (want KEY=VALUE)`);
    return [k, v];
  });
}

export async function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [verb, netName, netnsArg] = args;
  const verbs = ["add", "check", "del", "status", "gc", "version"];
  if (!verb || !verbs.includes(verb) || !netName || (["add", "check", "del"].includes(verb) && !netnsArg)) {
    process.stderr.write(USAGE);
    return 2;
  }
  try {
    const list = loadNetworkConf(env["NETCONFPATH"] || DEFAULT_CONF_DIR, netName);
    const rtm = new CniRuntime({
      path: splitCniPath(env["CNI_PATH"] || "/opt/cni/bin"),
      ...(env["CNI_CACHE_DIR"] ? { cacheDir: env["CNI_CACHE_DIR"] } : {}),
      exec: nodeRawExec,
      baseEnv: pluginEnv(env),
      onStderr: (t) => process.stderr.write(t),
    });
    let capabilityArgs: Record<string, unknown> = {};
    if (env["CAP_ARGS"]) {
      let parsed: unknown;
      try {
        parsed = readJson(env["CAP_ARGS"]);
      } catch (e) {
        throw new CniError(CniCode.DecodingFailure, `CAP_ARGS is not JSON: ${(e as Error).message}`);
      }
      if (!isObject(parsed)) throw new CniError(CniCode.DecodingFailure, `CAP_ARGS must be a JSON object, got ${jsonKind(parsed)}`);
      capabilityArgs = parsed;
    }
    const netns = netnsArg ? resolve(netnsArg) : "";
    const rt = {
      containerID: netns ? containerIdForNetns(netns) : "",
      netns,
      ifName: env["CNI_IFNAME"] || "eth0",
      args: parseUserCniArgs(env["CNI_ARGS"] ?? ""),
      capabilityArgs,
    };
    switch (verb) {
      case "add": {
        const r = await rtm.addNetworkList(list, rt);
        process.stdout.write(JSON.stringify(resultToJSON(r), null, 2) + "\n");
        break;
      }
      case "check":
        await rtm.checkNetworkList(list, rt);
        break;
      case "del":
        await rtm.delNetworkList(list, rt);
        break;
      case "status":
        await rtm.getStatusNetworkList(list);
        break;
      case "gc":
        await rtm.gcNetworkList(list);
        break;
      case "version": {
        const out = plainObject();
        for (const p of list.plugins) out[p.type] = await rtm.getVersionInfo(p.type);
        process.stdout.write(JSON.stringify(out, null, 2) + "\n");
        break;
      }
    }
    return 0;
  } catch (e) {
    const err = toCniError(e);
    process.stdout.write(JSON.stringify(err.toWire(), null, 2) + "\n");
    process.stderr.write(`podnet cni ${verb}: ${err.toString()}\n`);
    return 1;
  }
}
