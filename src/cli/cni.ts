// `podnet cni add|check|del|status|gc|version NET NETNS` — cnitool's interface over podnet's runtime.
// Env: NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_IFNAME (eth0), CNI_ARGS, CAP_ARGS,
// CNI_CACHE_DIR (default /var/lib/cni). The container ID is derived from the netns path as cnitool does.
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import {
  CniCode,
  CniError,
  isObject,
  jsonKind,
  plainObject,
  readJson,
  resultToJSON,
  toCniError,
} from "../cni/index.js";
import { nodeRawExec } from "../kernel/exec.js";
import { CniRuntime, DEFAULT_CONF_DIR, loadNetworkConf, splitCniPath } from "../libcni/index.js";
import { EXIT_FAILURE, EXIT_OK, exitCodes, parseCommandArgs, usageError } from "./args.js";
import { type Attachment, parseAttachmentArg, readAttachmentsFile, runGc, ValidAttachmentsError } from "./cni-gc.js";
import { pluginEnv } from "./env.js";

const USAGE = `usage: podnet cni add|check|del NETNAME NETNS
       podnet cni status|version NETNAME
       podnet cni gc NETNAME (--valid-attachment CONTAINERID/IFNAME ... | --valid-attachments-file FILE | --all) [--dry-run]
  cnitool's interface over podnet's runtime library: the network NETNAME from NETCONFPATH, the
  container ID derived from the NETNS path as cnitool derives it.
  env: NETCONFPATH (default ${DEFAULT_CONF_DIR}), CNI_PATH (default /opt/cni/bin), CNI_IFNAME (default eth0),
       CNI_ARGS ("K=V;K=V"), CAP_ARGS (JSON object), CNI_CACHE_DIR (default /var/lib/cni)

  gc: DELs every cached attachment of NETNAME that is not valid, then runs each plugin's GC
  (spec 1.1.0) with the valid ones (cni.dev/valid-attachments), and prints what went.
  --valid-attachment CONTAINERID/IFNAME  an attachment still in use (repeatable)
  --valid-attachments-file FILE          a JSON list of {"containerID": …, "ifname": …} ("-": stdin)
  --all                                  no attachment is valid: remove them all (cnitool's gc)
  --dry-run                              print what would go; change nothing
${exitCodes({ failure: "the CNI error, as JSON on stdout (and in words on stderr); gc: something could not be removed" })}`;

const OPTIONS = {
  "valid-attachment": { type: "string", multiple: true },
  "valid-attachments-file": { type: "string" },
  all: { type: "boolean" },
  "dry-run": { type: "boolean" },
} as const;

/** cnitool: "cnitool-" + the first 20 hex characters of sha512(absolute netns path). */
export function containerIdForNetns(netns: string): string {
  return `cnitool-${createHash("sha512").update(resolve(netns)).digest("hex").slice(0, 20)}`;
}

/** cnitool's CNI_ARGS parser: no empty keys or values. */
export function parseUserCniArgs(s: string): Array<[string, string]> {
  if (!s) return [];
  return s.split(";").map((kv) => {
    const i = kv.indexOf("=");
    const k = i < 0 ? kv : kv.slice(0, i);
    const v = i < 0 ? "" : kv.slice(i + 1);
    if (!k || !v)
      throw new CniError(CniCode.InvalidEnvironmentVariables, `CNI_ARGS: invalid pair "${kv}" (want KEY=VALUE)`);
    return [k, v];
  });
}

export async function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const p = parseCommandArgs("cni", USAGE, args, OPTIONS, { positionals: true });
  if (typeof p === "number") return p;
  const [verb, netName, netnsArg, ...extra] = p.positionals;
  const v = p.values;
  const verbs = ["add", "check", "del", "status", "gc", "version"];
  if (!verb || !verbs.includes(verb))
    return usageError("cni", verb ? `unknown command ${JSON.stringify(verb)}` : "which command?", USAGE);
  if (!netName) return usageError(`cni ${verb}`, "NETNAME is missing", USAGE);
  const needsNetns = ["add", "check", "del"].includes(verb);
  if (needsNetns && !netnsArg) return usageError(`cni ${verb}`, "NETNS is missing", USAGE);
  if (extra.length > 0 || (!needsNetns && netnsArg !== undefined))
    return usageError(`cni ${verb}`, `unexpected argument ${JSON.stringify(extra[0] ?? netnsArg)}`, USAGE);
  const gcFlag = (Object.keys(OPTIONS) as Array<keyof typeof OPTIONS>).find((k) => v[k] !== undefined);
  if (verb !== "gc" && gcFlag) return usageError(`cni ${verb}`, `--${gcFlag} is for gc`, USAGE);
  let valid: Attachment[] = [];
  if (verb === "gc") {
    const given = (v["valid-attachment"]?.length ?? 0) > 0 || v["valid-attachments-file"] !== undefined;
    if (!given && !v.all) {
      return usageError(
        "cni gc",
        "say which attachments are still in use (--valid-attachment, --valid-attachments-file), or --all to remove every one",
        USAGE,
      );
    }
    if (given && v.all) return usageError("cni gc", "--all and a list of valid attachments do not go together", USAGE);
    try {
      valid = [
        ...(v["valid-attachment"] ?? []).map(parseAttachmentArg),
        ...(v["valid-attachments-file"] !== undefined ? readAttachmentsFile(v["valid-attachments-file"]) : []),
      ];
    } catch (e) {
      if (e instanceof ValidAttachmentsError) return usageError("cni gc", e.message, USAGE);
      throw e;
    }
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
      if (!isObject(parsed))
        throw new CniError(CniCode.DecodingFailure, `CAP_ARGS must be a JSON object, got ${jsonKind(parsed)}`);
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
        process.stdout.write(`${JSON.stringify(resultToJSON(r), null, 2)}\n`);
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
      case "gc": {
        const errors = await runGc(rtm, list, {
          valid,
          dryRun: v["dry-run"] === true,
          out: (l) => process.stdout.write(`${l}\n`),
        });
        return errors > 0 ? EXIT_FAILURE : EXIT_OK;
      }
      case "version": {
        const out = plainObject();
        for (const p of list.plugins) out[p.type] = await rtm.getVersionInfo(p.type);
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        break;
      }
    }
    return EXIT_OK;
  } catch (e) {
    const err = toCniError(e);
    process.stdout.write(`${JSON.stringify(err.toWire(), null, 2)}\n`);
    process.stderr.write(`podnet cni ${verb}: ${err.toString()}\n`);
    return EXIT_FAILURE;
  }
}
