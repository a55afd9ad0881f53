// portmap configuration: the Go plugin's fields (same names, same defaults, keys matched without
// case as Go's encoding/json does — containerd sends {"HostPort":…}), stricter validation (ports
// 1..65535, known protocols, valid host IPs), and the container addresses taken from prevResult.
import * as v from "valibot";
import {
  CniCode,
  CniError,
  canonicalKeys,
  isObject,
  parseWith,
  type AnyResult,
  type JsonObject,
  type Result,
} from "../../../cni/index.js";
import { type Cidr, canonicalIP, ipFamily, parseCidr, tryParseIP } from "../../../ip/index.js";
import { prevResultAsCurrent, readPrevResult } from "../../../sdk/prev-result.js";

export const PROTOCOLS = ["tcp", "udp", "sctp"] as const;
export type Protocol = (typeof PROTOCOLS)[number];
export type Backend = "nftables" | "iptables";

/** One `portMappings` entry, validated. `hostIP` is "" when none (or empty) was given. */
export interface PortMapEntry {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: Protocol;
  readonly hostIP: string;
}

export interface PortMapConf {
  readonly name: string;
  readonly cniVersion: string;
  /** Set up the masquerade path for hairpin and localhost traffic (and route_localnet). Default true. */
  readonly snat: boolean;
  /** Masquerade DNATed traffic from every source, not only hairpin/localhost. */
  readonly masqAll: boolean;
  /** The packet mark bit for "masquerade this" (iptables and nftables). Default 13. */
  readonly markMasqBit: number;
  /** iptables: jump here instead of CNI-HOSTPORT-SETMARK (e.g. KUBE-MARK-MASQ). */
  readonly externalSetMarkChain: string | undefined;
  readonly conditionsV4: readonly string[];
  readonly conditionsV6: readonly string[];
  readonly backend: Backend;
  /** True when `backend` was chosen from the options rather than given. */
  readonly backendImplied: boolean;
  readonly portMappings: readonly PortMapEntry[];
  /** podnet: where per-attachment state lives (default /var/lib/cni/podnet-portmap). */
  readonly dataDir: string | undefined;
  /** The container addresses (first IPv4 and first IPv6 of prevResult on CNI_IFNAME). */
  readonly contIPv4: Cidr | undefined;
  readonly contIPv6: Cidr | undefined;
  readonly prevResult: Result | undefined;
  /** The prevResult as read: what ADD passes on (printed as the reference re-prints it). */
  readonly passThrough: AnyResult | undefined;
}

/** Go's DefaultMarkBit: Kubernetes uses 14 and 15, Calico 20-31. */
export const DEFAULT_MARK_BIT = 13;

const TOP_KEYS = [
  "name",
  "cniVersion",
  "snat",
  "masqAll",
  "markMasqBit",
  "externalSetMarkChain",
  "conditionsV4",
  "conditionsV6",
  "backend",
  "runtimeConfig",
  "prevResult",
  "dataDir",
] as const;
const ENTRY_KEYS = ["hostPort", "containerPort", "protocol", "hostIP"] as const;

const port = v.pipe(
  v.number("must be a number"),
  v.integer("must be an integer"),
  v.minValue(1, "must be 1..65535"),
  v.maxValue(65535, "must be 1..65535"),
);

const Entry = v.object({
  hostPort: port,
  containerPort: port,
  protocol: v.optional(
    v.pipe(
      v.string("must be a string"),
      v.transform((s) => (s === "" ? "tcp" : s.toLowerCase())),
      v.picklist(PROTOCOLS, 'must be "tcp", "udp" or "sctp"'),
    ),
    "tcp",
  ),
  hostIP: v.optional(
    v.pipe(
      v.nullable(v.string("must be a string")),
      v.transform((s) => s ?? ""),
      v.check((s) => s === "" || tryParseIP(s) !== undefined, "must be an IP address"),
    ),
    "",
  ),
});

const StringList = v.pipe(
  v.nullable(v.array(v.string("must be a string"), "must be a list of strings")),
  v.transform((a) => a ?? []),
);

const Conf = v.looseObject({
  name: v.string("must be a string"),
  cniVersion: v.optional(v.string(), ""),
  snat: v.optional(v.nullable(v.boolean("must be true or false")), true),
  masqAll: v.optional(v.boolean("must be true or false"), false),
  markMasqBit: v.optional(
    v.nullable(
      v.pipe(
        v.number("must be a number"),
        v.integer("must be an integer"),
        v.minValue(0, "must be between 0 and 31"),
        v.maxValue(31, "must be between 0 and 31"),
      ),
    ),
  ),
  externalSetMarkChain: v.optional(v.nullable(v.pipe(v.string("must be a string"), v.nonEmpty("must not be empty")))),
  conditionsV4: v.optional(StringList, []),
  conditionsV6: v.optional(StringList, []),
  backend: v.optional(v.nullable(v.string("must be a string"))),
  dataDir: v.optional(v.string("must be a string")),
  runtimeConfig: v.optional(
    v.looseObject({ portMappings: v.optional(v.nullable(v.array(Entry, "must be a list")), []) }, "must be an object"),
    {},
  ),
});

/** Which backend a list of conditions is written for (Go: by the first character of the first token). */
export function conditionsBackend(c: readonly string[]): Backend | undefined {
  const first = c[0];
  if (first === undefined || first === "") return undefined;
  return first[0] === "-" || first[0] === "!" ? "iptables" : "nftables";
}

/**
 * The backend for a config: the one asked for; otherwise iptables when the config carries
 * iptables-only options (externalSetMarkChain, iptables-style conditions) — so that the Go
 * plugin's configs (the seed's `"externalSetMarkChain": "KUBE-MARK-MASQ"`) keep working, and
 * their rules stay where the Go plugin put them — and nftables (maps, O(1) per pod) otherwise.
 */
export function chooseBackend(
  backend: string | null | undefined,
  o: { externalSetMarkChain: string | undefined; conditionsV4: readonly string[]; conditionsV6: readonly string[] },
): { backend: Backend; implied: boolean } {
  const ipt: string[] = [];
  const nft: string[] = [];
  if (o.externalSetMarkChain !== undefined) ipt.push("externalSetMarkChain");
  for (const [key, c] of [
    ["conditionsV4", o.conditionsV4],
    ["conditionsV6", o.conditionsV6],
  ] as const) {
    const b = conditionsBackend(c);
    if (b === "iptables") ipt.push(key);
    else if (b === "nftables") nft.push(key);
  }
  if (ipt.length > 0 && nft.length > 0) {
    throw new CniError(
      CniCode.InvalidNetworkConfig,
      `invalid portmap config: ${ipt.join(", ")} are iptables options but ${nft.join(", ")} are nftables options`,
    );
  }
  if (backend === undefined || backend === null || backend === "") {
    return { backend: ipt.length > 0 ? "iptables" : "nftables", implied: true };
  }
  if (backend !== "iptables" && backend !== "nftables") {
    throw new CniError(CniCode.InvalidNetworkConfig, `invalid portmap config: unrecognized backend "${backend}"`);
  }
  const other = backend === "iptables" ? nft : ipt;
  if (other.length > 0) {
    const otherName = backend === "iptables" ? "nftables" : "iptables";
    throw new CniError(
      CniCode.InvalidNetworkConfig,
      `${backend} backend was requested but configuration contains ${otherName}-specific options [${other.join(" ")}]`,
    );
  }
  return { backend, implied: false };
}

/** Keys renamed to their canonical spelling at every level Go decodes into a struct. */
function canonical(netconf: JsonObject): JsonObject {
  const top = canonicalKeys(netconf, TOP_KEYS);
  const rc = top["runtimeConfig"];
  if (isObject(rc)) {
    const rcc = canonicalKeys(rc, ["portMappings"]);
    const pm = rcc["portMappings"];
    if (Array.isArray(pm)) rcc["portMappings"] = pm.map((e) => (isObject(e) ? canonicalKeys(e, ENTRY_KEYS) : e));
    top["runtimeConfig"] = rcc;
  }
  return top;
}

/** Duplicate (hostIP, protocol, hostPort) entries: identical ones collapse, different targets are an error. */
function dedupe(entries: readonly PortMapEntry[]): PortMapEntry[] {
  const seen = new Map<string, PortMapEntry>();
  const out: PortMapEntry[] = [];
  for (const [i, e] of entries.entries()) {
    const key = `${e.hostIP}|${e.protocol}|${e.hostPort}`;
    const prev = seen.get(key);
    if (prev === undefined) {
      seen.set(key, e);
      out.push(e);
    } else if (prev.containerPort !== e.containerPort) {
      const where = e.hostIP ? `${e.hostIP}:` : "";
      throw new CniError(
        CniCode.InvalidNetworkConfig,
        `invalid portmap config: "runtimeConfig.portMappings.${i}" maps host port ${where}${e.hostPort}/${e.protocol} again, to container port ${e.containerPort} (already mapped to ${prev.containerPort})`,
      );
    }
  }
  return out;
}

/**
 * The container addresses portmap forwards to (Go's parseConfig): the first IPv4 and the first
 * IPv6 of prevResult, skipping addresses whose `interface` points at another interface or at a
 * host-side one.
 */
export function containerIPs(
  result: Result | undefined,
  ifName: string,
): { v4: Cidr | undefined; v6: Cidr | undefined } {
  let v4: Cidr | undefined;
  let v6: Cidr | undefined;
  for (const ip of result?.ips ?? []) {
    let c: Cidr;
    try {
      c = parseCidr(ip.address);
    } catch {
      continue;
    }
    const isV4 = canonicalIP(c.ip).family === 4; // Go's To4: an IPv4-mapped address counts as IPv4
    if ((isV4 && v4) || (!isV4 && v6)) continue;
    const idx = ip.interface;
    const ifaces = result?.interfaces ?? [];
    if (idx !== undefined && idx >= 0 && idx < ifaces.length) {
      const iface = ifaces[idx]!;
      if (iface.name !== ifName || !iface.sandbox) continue;
    }
    if (isV4) v4 = c;
    else v6 = c;
  }
  return { v4, v6 };
}

export function parseConfig(netconf: JsonObject, cniVersion: string, ifName: string): PortMapConf {
  const raw = canonical(netconf);
  const c = parseWith(Conf, raw, "portmap config");
  if (
    c.markMasqBit !== undefined &&
    c.markMasqBit !== null &&
    c.externalSetMarkChain !== undefined &&
    c.externalSetMarkChain !== null
  ) {
    throw new CniError(
      CniCode.InvalidNetworkConfig,
      "invalid portmap config: Cannot specify externalSetMarkChain and markMasqBit",
    );
  }
  const externalSetMarkChain = c.externalSetMarkChain ?? undefined;
  const { backend, implied } = chooseBackend(c.backend, {
    externalSetMarkChain,
    conditionsV4: c.conditionsV4,
    conditionsV6: c.conditionsV6,
  });
  const passThrough = readPrevResult(netconf, cniVersion);
  const prevResult = passThrough && prevResultAsCurrent(passThrough, cniVersion);
  const { v4, v6 } = containerIPs(prevResult, ifName);
  return {
    name: c.name,
    cniVersion,
    snat: c.snat ?? true,
    masqAll: c.masqAll,
    markMasqBit: c.markMasqBit ?? DEFAULT_MARK_BIT,
    externalSetMarkChain,
    conditionsV4: c.conditionsV4,
    conditionsV6: c.conditionsV6,
    backend,
    backendImplied: implied,
    portMappings: dedupe(c.runtimeConfig.portMappings ?? []),
    dataDir: c.dataDir,
    contIPv4: v4,
    contIPv6: v6,
    prevResult,
    passThrough,
  };
}

/** The family of a mapping's host IP (undefined for "any"). */
export function hostIPFamily(e: PortMapEntry): 4 | 6 | undefined {
  return e.hostIP === "" ? undefined : ipFamily(e.hostIP);
}

/** True when the host IP is unset or unspecified (0.0.0.0 / ::): the mapping applies to every local address. */
export function isAnyHost(e: PortMapEntry): boolean {
  if (e.hostIP === "") return true;
  const ip = tryParseIP(e.hostIP);
  return ip !== undefined && ip.value === 0n;
}

/** The mappings that apply to one family (Go: a hostIP of the other family skips the entry). */
export function mappingsFor(conf: Pick<PortMapConf, "portMappings">, family: 4 | 6): PortMapEntry[] {
  return conf.portMappings.filter((e) => {
    const f = hostIPFamily(e);
    return f === undefined || f === family;
  });
}
