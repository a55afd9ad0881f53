// host-local's configuration: Go's allocator.LoadIPAMConfig.
//
// host-local receives the caller's whole plugin config and reads `name`, `cniVersion`, `ipam`,
// `runtimeConfig.ipRanges` (capability `ipRanges`), `runtimeConfig.ips` (capability `ips`) and
// `args.cni.ips`, plus `IP=` from CNI_ARGS. Keys are matched without case, as Go's encoding/json
// does (containerd sends `{"Subnet": …, "RangeStart": ""}` in ipRanges).
//
// Range sets, in order: runtimeConfig.ipRanges, then the legacy single range at the top of `ipam`
// (`subnet`/`rangeStart`/`rangeEnd`/`gateway`), then `ipam.ranges`; when there are none,
// `ipam.rangeFromFile` (a JSON file holding one range). Each set is canonicalised (range.ts),
// then sets must not overlap, and before spec 0.3.0 there may be one set per family only.
import * as v from "valibot";
import {
  CniCode,
  CniError,
  JsonInputError,
  canonicalKeys,
  isObject,
  loadArgs,
  readJson,
  parseWith,
  versionAtLeast,
  type JsonObject,
  type Route,
} from "../../../cni/index.js";
import { type IP, IPParseError, canonicalIP, formatCidr, formatIP, parseCidr, parseIP } from "../../../ip/index.js";
import { type RangeInput, RangeConfigError } from "./range.js";
import { type RangeSet, canonicalizeRangeSet, rangeSetFamily, rangeSetsOverlap } from "./range-set.js";

export const DEFAULT_DATA_DIR = "/var/lib/cni/networks";
/** Largest `rangeFromFile` and `resolvConf` read (both are a few hundred bytes in practice). */
export const MAX_CONFIG_FILE_BYTES = 1 << 20;

export interface IPAMConfig {
  /** The network name (the store lives in `<dataDir>/<name>`). */
  readonly name: string;
  readonly type: string;
  /** Copied into the result (canonical text, nothing filled in). */
  readonly routes: readonly Route[];
  readonly dataDir: string;
  /** Path of a resolv.conf whose contents become the result's `dns`; "" for none. */
  readonly resolvConf: string;
  /** One range set per address to allocate, in allocation order. */
  readonly ranges: readonly RangeSet[];
  /** Requested addresses (CNI_ARGS IP=, args.cni.ips, runtimeConfig.ips), canonical, without duplicates. */
  readonly ipArgs: readonly IP[];
}

export interface LoadedConfig {
  readonly ipam: IPAMConfig;
  /** The request's cniVersion ("" when absent). */
  readonly cniVersion: string;
}

// ---- shapes (valibot); keys without case, null = absent, as Go decodes ---------------------------

/** An object whose keys are first renamed to the schema's spelling when they match without case. */
function ciObject<const E extends v.ObjectEntries>(entries: E) {
  const keys = Object.keys(entries);
  return v.pipe(
    v.custom<JsonObject>(isObject, "must be an object"),
    v.transform((o: JsonObject) => canonicalKeys(o, keys)),
    v.object(entries),
  );
}
const optStr = v.nullish(v.string());
const optInt = v.nullish(v.pipe(v.number(), v.integer()));
const optStrs = v.nullish(v.array(v.string()));

const RangeShape = ciObject({ subnet: optStr, rangeStart: optStr, rangeEnd: optStr, gateway: optStr });
const RangeSetsShape = v.nullish(v.array(v.array(RangeShape)));
const RouteShape = ciObject({
  dst: optStr,
  gw: optStr,
  mtu: optInt,
  advmss: optInt,
  priority: optInt,
  table: optInt,
  scope: optInt,
});
const IpamShape = ciObject({
  type: optStr,
  subnet: optStr,
  rangeStart: optStr,
  rangeEnd: optStr,
  gateway: optStr,
  routes: v.nullish(v.array(RouteShape)),
  dataDir: optStr,
  resolvConf: optStr,
  ranges: RangeSetsShape,
  rangeFromFile: optStr,
});
const NetShape = ciObject({
  name: optStr,
  cniVersion: optStr,
  ipam: v.nullish(IpamShape),
  runtimeConfig: v.nullish(ciObject({ ipRanges: RangeSetsShape, ips: optStrs })),
  args: v.nullish(ciObject({ cni: v.nullish(ciObject({ ips: optStrs })) })),
});

const invalid = (msg: string) => new CniError(CniCode.InvalidNetworkConfig, msg);

const decode = <S extends v.GenericSchema>(
  schema: S,
  input: unknown,
  what: string,
  showValues = true,
): v.InferOutput<S> => parseWith(schema, input, what, CniCode.InvalidNetworkConfig, { showValues });

// ---- requested addresses -----------------------------------------------------------------

/**
 * "10.1.0.5" or "10.1.0.5/24" (the prefix is ignored, as Go's ip.IP.ToIP does), canonical.
 * Throws `invalid IP address "x": why` naming the source.
 */
export function parseRequestedIP(text: string, source: string, code: number = CniCode.InvalidNetworkConfig): IP {
  try {
    return text.includes("/") ? canonicalIP(parseCidr(text).ip) : parseIP(text);
  } catch (e) {
    if (e instanceof IPParseError) throw new CniError(code, `cannot understand ip: ${source}: ${e.message}`);
    throw e;
  }
}

/** Requested IPs from CNI_ARGS (IP=a[,b…]), args.cni.ips and runtimeConfig.ips, in that order, deduplicated. */
function collectIPArgs(envArgs: string, argsIPs: readonly string[], runtimeIPs: readonly string[]): IP[] {
  const out = new Map<string, IP>();
  const add = (ip: IP) => {
    const k = formatIP(ip);
    if (!out.has(k)) out.set(k, ip);
  };
  if (envArgs !== "") {
    // Field name `IP` in upper case, matched exactly (types.LoadArgs). A comma list is a podnet
    // extension; Go takes one address.
    const { IP: env } = loadArgs(envArgs, ["IP"]);
    for (const t of (env ?? "").split(",")) {
      if (t !== "") add(parseRequestedIP(t, `CNI_ARGS IP=${env}`, CniCode.InvalidEnvironmentVariables));
    }
  }
  for (const [i, t] of argsIPs.entries()) add(parseRequestedIP(t, `args.cni.ips[${i}]`));
  for (const [i, t] of runtimeIPs.entries()) add(parseRequestedIP(t, `runtimeConfig.ips[${i}]`));
  return [...out.values()];
}

// ---- routes ------------------------------------------------------------------------------

function parseRoutes(raw: v.InferOutput<typeof IpamShape>["routes"]): Route[] {
  return (raw ?? []).map((r, i) => {
    const where = `ipam.routes[${i}]`;
    if (!r.dst) throw invalid(`invalid ${where}: missing "dst"`);
    let dst: string;
    try {
      dst = formatCidr(parseCidr(r.dst)); // host bits kept, as Go's types.IPNet does
    } catch (e) {
      throw invalid(`invalid ${where}.dst ${JSON.stringify(r.dst)}: ${(e as IPParseError).reason ?? String(e)}`);
    }
    const out: Route = { dst };
    if (r.gw) {
      try {
        out.gw = formatIP(parseIP(r.gw));
      } catch (e) {
        throw invalid(`invalid ${where}.gw ${JSON.stringify(r.gw)}: ${(e as IPParseError).reason ?? String(e)}`);
      }
    }
    // Go leaves mtu/advmss/priority out when 0; table and scope are kept when set.
    if (r.mtu) out.mtu = r.mtu;
    if (r.advmss) out.advmss = r.advmss;
    if (r.priority) out.priority = r.priority;
    if (r.table !== undefined && r.table !== null) out.table = r.table;
    if (r.scope !== undefined && r.scope !== null) out.scope = r.scope;
    return out;
  });
}

// ---- the whole thing -------------------------------------------------------------------------

export interface ConfigDeps {
  /**
   * Reads `ipam.rangeFromFile` (only when no ranges are configured): a regular file of at most
   * `maxBytes`, as UTF-8; throws otherwise.
   */
  readFileLimited?(path: string, maxBytes: number): Promise<string>;
}

/**
 * Parses and validates the request config (`netconf`, the whole plugin object) and the raw
 * CNI_ARGS. Throws CniError: 7 for the config, 4 for CNI_ARGS. Go's messages are kept, with the
 * source of each range added, e.g.
 * `invalid range set 0: ipam.ranges[0][0]: Network 10.1.0.0/31 too small to allocate from`.
 */
export async function loadIPAMConfig(
  netconf: JsonObject,
  envArgs: string,
  deps: ConfigDeps = {},
): Promise<LoadedConfig> {
  const n = decode(NetShape, netconf, "host-local config");
  if (!n.ipam) throw invalid("IPAM config missing 'ipam' key");
  const ipam = n.ipam;

  const ipArgs = collectIPArgs(envArgs, n.args?.cni?.ips ?? [], n.runtimeConfig?.ips ?? []);

  const sources: Array<{ raw: readonly RangeInput[]; where: (i: number) => string }> = [];
  for (const [s, set] of (n.runtimeConfig?.ipRanges ?? []).entries()) {
    sources.push({ raw: set, where: (i) => `runtimeConfig.ipRanges[${s}][${i}]` });
  }
  if (ipam.subnet) {
    sources.push({
      raw: [{ subnet: ipam.subnet, rangeStart: ipam.rangeStart, rangeEnd: ipam.rangeEnd, gateway: ipam.gateway }],
      where: () => "ipam",
    });
  }
  for (const [s, set] of (ipam.ranges ?? []).entries())
    sources.push({ raw: set, where: (i) => `ipam.ranges[${s}][${i}]` });

  if (sources.length === 0 && ipam.rangeFromFile) {
    // The file may be anything a config can name (/etc/shadow): errors name the file and the
    // problem, never its content (no value in a message, positions only from the JSON reader).
    const file = ipam.rangeFromFile;
    const where = `rangeFromFile ${JSON.stringify(file)}`;
    if (!deps.readFileLimited) throw invalid(`cannot read ${where}: no file access`);
    let text: string;
    try {
      text = await deps.readFileLimited(file, MAX_CONFIG_FILE_BYTES);
    } catch (e) {
      throw invalid(`failed to read ${where}: ${(e as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = readJson(text, { maxBytes: MAX_CONFIG_FILE_BYTES });
    } catch (e) {
      if (!(e instanceof JsonInputError)) throw e;
      throw invalid(`failed to parse ${where} as a Range: not JSON: ${e.message}`);
    }
    const r = decode(RangeShape, parsed, where, false);
    if (!r.subnet) throw invalid(`failed to parse ${where} as a Range: no "subnet"`);
    // Later messages quote unparsable addresses; from this file, say which field only.
    const fields = [
      ["subnet", r.subnet, parseCidr],
      ["rangeStart", r.rangeStart, parseIP],
      ["rangeEnd", r.rangeEnd, parseIP],
      ["gateway", r.gateway, parseIP],
    ] as const;
    for (const [field, text, parse] of fields) {
      if (!text) continue;
      try {
        parse(text);
      } catch {
        throw invalid(
          `failed to parse ${where} as a Range: "${field}" is not ${field === "subnet" ? "a CIDR" : "an IP address"}`,
        );
      }
    }
    sources.push({ raw: [r], where: () => where });
  }

  if (sources.length === 0) throw invalid("no IP ranges specified");

  const ranges = sources.map(({ raw, where }, i) => {
    try {
      return canonicalizeRangeSet(raw, where);
    } catch (e) {
      if (e instanceof RangeConfigError) throw invalid(`invalid range set ${i}: ${e.message}`);
      throw e;
    }
  });

  // Spec 0.2.0 and below carry one IPv4 and one IPv6 address at most.
  const v4 = ranges.filter((s) => rangeSetFamily(s) === 4).length;
  const v6 = ranges.length - v4;
  const cniVersion = n.cniVersion ?? "";
  if (v4 > 1 || v6 > 1) {
    let ok = false;
    try {
      ok = versionAtLeast(cniVersion, "0.3.0");
    } catch {
      ok = false;
    }
    if (!ok) throw invalid(`CNI version ${cniVersion} does not support more than 1 address per family`);
  }

  for (let i = 0; i < ranges.length - 1; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      if (rangeSetsOverlap(ranges[i]!, ranges[j]!)) throw invalid(`range set ${i} overlaps with ${j}`);
    }
  }

  return {
    cniVersion,
    ipam: {
      name: n.name ?? "",
      type: ipam.type ?? "",
      routes: parseRoutes(ipam.routes),
      dataDir: ipam.dataDir || DEFAULT_DATA_DIR,
      resolvConf: ipam.resolvConf ?? "",
      ranges,
      ipArgs,
    },
  };
}

/** The reference name for loadIPAMConfig (each plugin file starts with `parseConfig`). */
export const parseConfig = loadIPAMConfig;
