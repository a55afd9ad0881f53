// Loading network configurations from a directory (libcni LoadNetworkConf, and the kubelet /
// containerd / CRI-O rule for the default network: the first valid file in lexicographic order).
import { readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import {
  CniCode,
  CniError,
  MAX_JSON_BYTES,
  decodeJsonObject,
  parseConf,
  parseConfList,
  parsePluginConf,
  type NetworkConfigList,
} from "../cni/index.js";
import { readFileBounded } from "../kernel/read-bounded.js";

export const DEFAULT_CONF_DIR = "/etc/cni/net.d";
export const CONF_EXTENSIONS = [".conf", ".conflist", ".json"] as const;

/** Regular files in `dir` with one of `exts`, full paths sorted as byte strings; [] when dir is missing. */
export function confFiles(dir: string, exts: readonly string[] = CONF_EXTENSIONS): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => exts.includes(extname(n)))
    .map((n) => join(dir, n))
    .filter((p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    })
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** Appends `<dir>/<name>/*.conf` plugin objects (libcni 1.3) unless loadOnlyInlinedPlugins. */
function withSiblingPlugins(list: NetworkConfigList, dir: string): NetworkConfigList {
  // Already parsed once (parseConfList): cannot fail here.
  if (decodeJsonObject(list.bytes, "configuration list")["loadOnlyInlinedPlugins"] === true) return list;
  const extra = confFiles(join(dir, list.name), [".conf"]);
  if (extra.length === 0) return list;
  const plugins = [...list.plugins];
  for (const f of extra) {
    let raw: unknown;
    try {
      raw = decodeJsonObject(readConfBytes(f), `plugin config ${f}`);
    } catch (e) {
      throw new CniError(CniCode.InvalidNetworkConfig, `failed to parse plugin config ${f}: ${(e as Error).message}`);
    }
    plugins.push(parsePluginConf(raw, `failed to parse plugin config ${f}`));
  }
  return { ...list, plugins };
}

/** A configuration file's bytes: a regular file of at most MAX_JSON_BYTES (code 5 otherwise). */
function readConfBytes(path: string): Buffer {
  try {
    return readFileBounded(path, MAX_JSON_BYTES);
  } catch (e) {
    throw new CniError(CniCode.IoFailure, `cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Parses one file by its extension: .conflist as a list, .conf/.json as a single plugin. */
export function loadConfFile(path: string): NetworkConfigList {
  const bytes = readConfBytes(path);
  if (path.endsWith(".conflist")) return withSiblingPlugins(parseConfList(bytes, path), join(path, ".."));
  return parseConf(bytes, path);
}

/**
 * libcni LoadNetworkConf: the .conflist named `name`, else the legacy .conf/.json named `name`.
 * A file that fails to parse aborts the lookup, as in Go.
 */
export function loadNetworkConf(dir: string, name: string): NetworkConfigList {
  const lists = confFiles(dir, [".conflist"]);
  for (const f of lists) {
    const l = loadConfFile(f);
    if (l.name === name) return l;
  }
  const singles = confFiles(dir, [".conf", ".json"]);
  for (const f of singles) {
    const l = loadConfFile(f);
    if (l.name === name) return l;
  }
  if (lists.length === 0 && singles.length === 0)
    throw new CniError(CniCode.InvalidNetworkConfig, `no net configurations found in ${dir}`);
  throw new CniError(CniCode.InvalidNetworkConfig, `no net configuration with name "${name}" in ${dir}`);
}

export interface DefaultNetwork {
  readonly list: NetworkConfigList;
  /** Files skipped before it, with why. */
  readonly skipped: ReadonlyArray<{ file: string; error: string }>;
}

/**
 * The kubelet's default network: the first file (lexicographic, .conf/.conflist/.json) that
 * parses and has plugins; invalid files are skipped and reported.
 */
export function loadDefaultNetwork(dir: string): DefaultNetwork {
  const skipped: Array<{ file: string; error: string }> = [];
  for (const f of confFiles(dir)) {
    try {
      return { list: loadConfFile(f), skipped };
    } catch (e) {
      skipped.push({ file: f, error: (e as Error).message });
    }
  }
  const why = skipped.length ? `; skipped: ${skipped.map((s) => `${s.file}: ${s.error}`).join("; ")}` : "";
  throw new CniError(CniCode.InvalidNetworkConfig, `no valid networks found in ${dir}${why}`);
}
