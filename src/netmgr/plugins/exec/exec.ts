// The legacy exec plugins (kubelet ≤ 1.8, pkg/kubelet/network/exec): every directory under
// --network-plugin-dir is a plugin, `~` in its name standing for `/`, with the executable
// <dir>/<name>/<last segment of the name>, run as `init`, `setup NS NAME ID`, `teardown NS NAME ID`
// and `status NS NAME ID` (which prints a PodNetworkStatus, or nothing for "no opinion").
// podnet extension: the pod's netns path is passed in the environment as PODNET_NETNS.
import { join } from "node:path";
import { readJson } from "../../../cni/index.js";
import type { RawExec } from "../../../kernel/exec.js";
import { type Logger, nullLogger } from "../../core/log.js";
import type { Host, NetworkPlugin, PodNetworkStatus } from "../../core/plugin.js";

export const DEFAULT_NETWORK_PLUGIN_DIR = "/usr/libexec/kubernetes/kubelet-plugins/net/exec/";

export interface ExecPluginInfo {
  /** The plugin's name (`~` → `/`). */
  readonly name: string;
  /** The directory's own name. */
  readonly dirName: string;
  readonly exe: string;
}

export interface ExecPluginFs {
  /** Entries of a directory with whether each is a directory; throws when it cannot be read. */
  readdir(dir: string): Array<{ name: string; isDirectory: boolean }>;
  /** Mode bits of a file, or undefined when it does not exist. */
  mode(path: string): number | undefined;
}

/** UnescapePluginName */
export const unescapePluginName = (dirName: string): string => dirName.replaceAll("~", "/");

/** Every directory under `pluginDir` is one plugin; a missing or unreadable directory has none. */
export function probeExecPlugins(pluginDir: string, fs: ExecPluginFs): ExecPluginInfo[] {
  let entries: Array<{ name: string; isDirectory: boolean }>;
  try {
    entries = fs.readdir(pluginDir);
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isDirectory)
    .map((e) => e.name)
    .sort()
    .map((dirName) => {
      const name = unescapePluginName(dirName);
      const last = name.split("/").pop() ?? name;
      return { name, dirName, exe: join(pluginDir, dirName, last) };
    });
}

/** Parses `status` output: "" → null; else JSON checked for kind and apiVersion, as the kubelet does. */
export function parseExecStatus(output: string, podName: string): PodNetworkStatus | null {
  if (output === "") return null;
  let o: unknown;
  try {
    o = readJson(output);
  } catch (e) {
    throw new Error(`invalid network status for pod '${podName}': ${(e as Error).message}`);
  }
  const rec = (typeof o === "object" && o !== null ? o : {}) as Record<string, unknown>;
  const kind = typeof rec["kind"] === "string" ? rec["kind"] : "";
  const apiVersion = typeof rec["apiVersion"] === "string" ? rec["apiVersion"] : "";
  if (kind !== "" && kind !== "PodNetworkStatus") {
    throw new Error(
      `Invalid 'kind' returned in network status for pod '${podName}'. Valid value is 'PodNetworkStatus', got '${kind}'.`,
    );
  }
  if (apiVersion !== "" && apiVersion !== "v1beta1")
    throw new Error(`Unknown version '${apiVersion}' in network status for pod '${podName}'.`);
  const ip = typeof rec["ip"] === "string" ? rec["ip"] : "";
  const ips = Array.isArray(rec["ips"]) ? rec["ips"].filter((x): x is string => typeof x === "string") : [];
  const all = ips.length ? ips : ip ? [ip] : [];
  if (all.length === 0) return null;
  return { ip: ip || all[0]!, ips: all };
}

export interface ExecPluginDeps {
  readonly exec: RawExec;
  readonly fs: ExecPluginFs;
  /** The environment the plugin runs with. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly log?: Logger;
  readonly timeoutMs?: number;
}

export function createExecPlugin(info: ExecPluginInfo, deps: ExecPluginDeps): NetworkPlugin {
  const log = deps.log ?? nullLogger;
  let host: Host | undefined;

  async function run(args: string[], netns: string): Promise<string> {
    const r = await deps.exec.run(info.exe, args, {
      env: { ...(deps.env ?? {}), PODNET_NETNS: netns },
      timeoutMs: deps.timeoutMs ?? 220_000,
    });
    const out = r.stdout.toString("utf8") + r.stderr.toString("utf8"); // CombinedOutput
    log.debug(`exec network plugin ${args[0]} output`, { plugin: info.name, output: out, code: r.code });
    if (r.code !== 0) {
      const why = r.timedOut ? "timed out" : r.code === null ? `signal: ${r.signal}` : `exit status ${r.code}`;
      const text = out.trim();
      throw new Error(`exec plugin ${JSON.stringify(info.name)} ${args[0]} failed: ${why}${text ? `: ${text}` : ""}`);
    }
    return out;
  }

  async function netnsOf(id: string): Promise<string> {
    try {
      return (await host?.getNetNS(id)) ?? "";
    } catch {
      return "";
    }
  }

  return {
    async init(h) {
      const mode = deps.fs.mode(info.exe);
      if (mode === undefined || (mode & 0o111) === 0) {
        throw new Error(`Invalid exec plugin. Executable '${info.name}' does not have correct permissions.`);
      }
      host = h;
      await run(["init"], "");
    },
    event() {},
    name: () => info.name,
    capabilities: () => new Set<number>(),
    async setUpPod(namespace, name, id) {
      await run(["setup", namespace, name, id], await netnsOf(id));
    },
    async tearDownPod(namespace, name, id) {
      await run(["teardown", namespace, name, id], await netnsOf(id));
    },
    async getPodNetworkStatus(namespace, name, id) {
      const out = await run(["status", namespace, name, id], await netnsOf(id));
      return parseExecStatus(out, name);
    },
    status: () => null,
  };
}
