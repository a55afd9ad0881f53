// Network configuration: lists (.conflist), legacy single-plugin files (.conf/.json) and the
// per-plugin request built from them (spec §3, libcni conf.go / api.go buildOneConfig).
import { CniCode, CniError } from "./errors.js";
import { JsonInputError, readJsonObject } from "./json.js";
import { brief, isObject, plainObject, type JsonObject } from "./keys.js";
import { resultToJSON, type AnyResult } from "./result.js";
import { validateNetworkName } from "./validate.js";
import { parseVersion, selectConfVersion } from "./version.js";

export interface PluginConf {
  /** The executable's name. */
  readonly type: string;
  /** The whole plugin object as written (unknown keys kept). */
  readonly raw: JsonObject;
  /** Capabilities set to true. */
  readonly capabilities: readonly string[];
}

export interface NetworkConfigList {
  readonly name: string;
  /** The version in force after `cniVersions` selection. */
  readonly cniVersion: string;
  readonly cniVersions?: readonly string[];
  readonly disableCheck: boolean;
  readonly disableGC: boolean;
  readonly plugins: readonly PluginConf[];
  /** The bytes as loaded (stored base64 in the result cache). */
  readonly bytes: Buffer;
  /** Where it was loaded from, when it came from a file. */
  readonly source?: string;
}

const invalid = (msg: string) => new CniError(CniCode.InvalidNetworkConfig, msg);

/** A JSON object through the bounded reader (json.ts); code 6 naming `what` and the position. */
export function decodeJsonObject(bytes: Uint8Array | string, what: string): JsonObject {
  try {
    return readJsonObject(bytes);
  } catch (e) {
    if (e instanceof JsonInputError) throw new CniError(CniCode.DecodingFailure, `error parsing ${what}: ${e.message}`);
    throw e;
  }
}

/** "true"/"false" strings are accepted too (libcni ≥ 1.2.1). */
function parseFlag(list: JsonObject, key: string): boolean {
  const v = list[key];
  if (v === undefined) return false;
  if (typeof v === "boolean") return v;
  if (typeof v === "string" && /^(true|false)$/i.test(v)) return v.toLowerCase() === "true";
  throw invalid(`invalid "${key}": must be true or false, got ${brief(v)}`);
}

export function parsePluginConf(raw: unknown, where: string): PluginConf {
  if (!isObject(raw)) throw invalid(`${where}: a plugin must be a JSON object, got ${brief(raw)}`);
  const type = raw["type"];
  if (type === undefined || type === "") throw invalid(`${where}: missing 'type'`);
  if (typeof type !== "string") throw invalid(`${where}: "type" must be a string, got ${brief(type)}`);
  if (type.includes("/")) throw invalid(`${where}: invalid plugin name "${type}" (no path separators)`);
  const caps = raw["capabilities"];
  if (caps !== undefined && !isObject(caps))
    throw invalid(`${where}: "capabilities" must be an object, got ${brief(caps)}`);
  const capabilities = caps
    ? Object.entries(caps)
        .filter(([, on]) => on === true)
        .map(([k]) => k)
    : [];
  return { type, raw, capabilities };
}

/** Parses a `.conflist`. */
export function parseConfList(bytes: Buffer | string, source?: string): NetworkConfigList {
  const buf = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
  const what = source ? `configuration list ${source}` : "configuration list";
  const o = decodeJsonObject(buf, what);
  const name = o["name"];
  if (name === undefined || name === "") throw invalid(`error parsing ${what}: no name`);
  if (typeof name !== "string") throw invalid(`error parsing ${what}: "name" must be a string, got ${brief(name)}`);
  validateNetworkName(name);
  const ver = o["cniVersion"] ?? "";
  if (typeof ver !== "string") throw invalid(`error parsing ${what}: "cniVersion" must be a string, got ${brief(ver)}`);
  try {
    parseVersion(ver);
  } catch {
    throw invalid(`error parsing ${what}: invalid "cniVersion" "${ver}"`);
  }
  const vs = o["cniVersions"];
  if (vs !== undefined && (!Array.isArray(vs) || vs.some((x) => typeof x !== "string"))) {
    throw invalid(`error parsing ${what}: "cniVersions" must be a list of strings, got ${brief(vs)}`);
  }
  const plugins = o["plugins"];
  if (plugins === undefined) throw invalid(`error parsing ${what}: missing "plugins"`);
  if (!Array.isArray(plugins)) throw invalid(`error parsing ${what}: invalid 'plugins' type ${brief(plugins)}`);
  if (plugins.length === 0) throw invalid(`error parsing ${what}: no plugins in list`);
  return {
    name,
    cniVersion: selectConfVersion(ver, vs as string[] | undefined),
    ...(vs ? { cniVersions: vs as string[] } : {}),
    disableCheck: parseFlag(o, "disableCheck"),
    disableGC: parseFlag(o, "disableGC"),
    plugins: plugins.map((p, i) => parsePluginConf(p, `failed to parse plugin config ${i}`)),
    bytes: buf,
    ...(source ? { source } : {}),
  };
}

/** Parses a legacy single-plugin `.conf`/`.json` and up-converts it to a list (ConfListFromConf). */
export function parseConf(bytes: Buffer | string, source?: string): NetworkConfigList {
  const buf = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
  const what = source ? `configuration ${source}` : "configuration";
  const o = decodeJsonObject(buf, what);
  if (Array.isArray(o["plugins"]) && o["type"] === undefined) {
    throw invalid(`error parsing ${what}: missing 'type' (this looks like a configuration list; name it .conflist)`);
  }
  const plugin = parsePluginConf(o, `error parsing ${what}`);
  const name = o["name"];
  if (typeof name !== "string" || name === "") throw invalid(`error parsing ${what}: missing network name`);
  validateNetworkName(name);
  const ver = o["cniVersion"] ?? "";
  if (typeof ver !== "string") throw invalid(`error parsing ${what}: "cniVersion" must be a string, got ${brief(ver)}`);
  return {
    name,
    cniVersion: ver,
    disableCheck: false,
    disableGC: false,
    plugins: [plugin],
    bytes: buf,
    ...(source ? { source } : {}),
  };
}

/** Parses either form: a list when the object has "plugins", a single plugin otherwise. */
export function parseAnyConf(bytes: Buffer | string, source?: string): NetworkConfigList {
  if (source?.endsWith(".conflist")) return parseConfList(bytes, source);
  return parseConf(bytes, source);
}

export interface BuildRequest {
  readonly list: Pick<NetworkConfigList, "name" | "cniVersion">;
  readonly plugin: PluginConf;
  readonly prevResult?: AnyResult;
  readonly capabilityArgs?: Readonly<Record<string, unknown>>;
  /** Extra reserved keys (GC's cni.dev/valid-attachments). */
  readonly inject?: Readonly<Record<string, unknown>>;
  /** STATUS and GC send only name and cniVersion (no runtimeConfig, no prevResult). */
  readonly bare?: boolean;
}

/** The request a plugin receives on stdin (spec §3.5). */
export function buildRequest(b: BuildRequest): JsonObject {
  // A shallow copy: only top-level keys are set here, and the request is serialised at once.
  const req: JsonObject = { ...b.plugin.raw, name: b.list.name, cniVersion: b.list.cniVersion };
  if (b.inject) {
    for (const [k, v] of Object.entries(b.inject)) {
      if (k === "") throw invalid("keys cannot be empty");
      if (v === undefined || v === null) throw invalid(`key '${k}' value must not be nil`);
      req[k] = v;
    }
  }
  if (b.bare) return req;
  if (b.prevResult) req["prevResult"] = resultToJSON(b.prevResult);
  const rc = plainObject();
  for (const cap of b.plugin.capabilities) {
    if (b.capabilityArgs && Object.hasOwn(b.capabilityArgs, cap)) rc[cap] = b.capabilityArgs[cap];
  }
  if (Object.keys(rc).length) req["runtimeConfig"] = rc;
  return req;
}
