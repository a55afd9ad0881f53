// CNI results in their three generations (020, 040, 100), parsing from JSON, conversion between
// every pair of versions with libcni's exact rules, and serialisation with libcni's omissions.
import { formatIP, parseIP, tryParseIP } from "../ip/ip.js";
import { CniCode, CniError } from "./errors.js";
import { goMarshalIndent } from "./gojson.js";
import { brief, getCI, isObject, type JsonObject } from "./keys.js";
import { generationOf, type Generation } from "./version.js";

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}
export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}
export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}
export interface IPConfig {
  /** CIDR with host bits, e.g. "10.1.0.5/16". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}
/** 1.0.0 / 1.1.0 — the shape plugins work with internally. */
export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IPConfig[];
  routes?: Route[];
  dns?: DNS;
}
export interface IPConfig040 extends IPConfig {
  version: string;
}
/** 0.3.0 / 0.3.1 / 0.4.0 */
export interface Result040 {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IPConfig040[];
  routes?: Route[];
  dns?: DNS;
}
export interface IPConfig020 {
  ip: string;
  gateway?: string;
  routes?: Route[];
}
/** 0.1.0 / 0.2.0 */
export interface Result020 {
  cniVersion: string;
  ip4?: IPConfig020;
  ip6?: IPConfig020;
  dns?: DNS;
}
export type AnyResult = Result | Result040 | Result020;

const bad = (msg: string) => new CniError(CniCode.DecodingFailure, msg);

/** The family of a bare IP or CIDR string ("4" or "6"), "" when it is neither. */
export function ipFamily(addr: string): "4" | "6" | "" {
  const ip = tryParseIP(addr.split("/")[0] ?? "");
  return ip ? (ip.family === 4 ? "4" : "6") : "";
}

function str(o: JsonObject, key: string, where: string, required = false): string | undefined {
  const v = getCI(o, key);
  if (v === undefined || v === null) {
    if (required) throw bad(`${where}: missing "${key}"`);
    return undefined;
  }
  if (typeof v !== "string") throw bad(`${where}: "${key}" must be a string, got ${brief(v)}`);
  return v;
}
function uint(o: JsonObject, key: string, where: string): number | undefined {
  const v = getCI(o, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
    throw bad(`${where}: "${key}" must be a non-negative integer, got ${brief(v)}`);
  return v;
}
function strs(o: JsonObject, key: string, where: string): string[] | undefined {
  const v = getCI(o, key);
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
    throw bad(`${where}: "${key}" must be a list of strings, got ${brief(v)}`);
  return v as string[];
}
function objs(o: JsonObject, key: string, where: string): JsonObject[] {
  const v = getCI(o, key);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(`${where}: "${key}" must be a list, got ${brief(v)}`);
  return v.map((x, i) => {
    if (!isObject(x)) throw bad(`${where}: "${key}[${i}]" must be an object, got ${brief(x)}`);
    return x;
  });
}
function cidr(o: JsonObject, key: string, where: string, required: boolean): string | undefined {
  const v = str(o, key, where, required);
  if (v === undefined) return undefined;
  const [ip, len, extra] = v.split("/");
  const max = !tryParseIP(ip ?? "") ? -1 : ip!.includes(":") ? 128 : 32;
  if (max < 0 || len === undefined || extra !== undefined || !/^\d+$/.test(len) || Number(len) > max) {
    throw bad(`${where}: "${key}" must be a CIDR like 10.1.0.5/16, got "${v}"`);
  }
  return v;
}
function ipStr(o: JsonObject, key: string, where: string): string | undefined {
  const v = str(o, key, where);
  if (v === undefined || v === "") return undefined;
  if (!tryParseIP(v)) throw bad(`${where}: "${key}" must be an IP address, got "${v}"`);
  return v;
}

function parseRoute(o: JsonObject, where: string): Route {
  const r: Route = { dst: cidr(o, "dst", where, true)! };
  const gw = ipStr(o, "gw", where);
  if (gw) r.gw = gw;
  for (const k of ["mtu", "advmss", "priority", "table", "scope"] as const) {
    const n = uint(o, k, where);
    if (n !== undefined) r[k] = n;
  }
  return r;
}
function parseDNS(v: unknown, where: string): DNS | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw bad(`${where}: "dns" must be an object`);
  const d: DNS = {};
  const ns = strs(v, "nameservers", `${where} dns`);
  if (ns) d.nameservers = ns;
  const dom = str(v, "domain", `${where} dns`);
  if (dom) d.domain = dom;
  const s = strs(v, "search", `${where} dns`);
  if (s) d.search = s;
  const opt = strs(v, "options", `${where} dns`);
  if (opt) d.options = opt;
  // An empty dns is no dns (Go's zero DNS struct; printing writes "dns": {} either way).
  return Object.keys(d).length ? d : undefined;
}
function parseInterface(o: JsonObject, where: string): Interface {
  const i: Interface = { name: str(o, "name", where) ?? "" };
  for (const k of ["mac", "sandbox", "socketPath", "pciID"] as const) {
    const s = str(o, k, where);
    if (s) i[k] = s;
  }
  const mtu = uint(o, "mtu", where);
  if (mtu) i.mtu = mtu;
  return i;
}

/**
 * Parses a result in whatever version it declares; a result without `cniVersion` is read in
 * `fallbackVersion` (libcni: the config's version). Returns the typed result of its generation.
 */
export function parseResult(raw: unknown, fallbackVersion: string): { gen: Generation; result: AnyResult } {
  if (raw === null) raw = {};
  if (!isObject(raw)) throw bad(`result must be a JSON object, got ${brief(raw)}`);
  const declared = getCI(raw, "cniVersion");
  if (declared !== undefined && typeof declared !== "string") throw bad(`result "cniVersion" must be a string`);
  const cniVersion = declared ? declared : fallbackVersion;
  const gen = generationOf(cniVersion);
  const where = `result (${cniVersion})`;
  if (gen === "020") {
    const r: Result020 = { cniVersion };
    for (const fam of ["ip4", "ip6"] as const) {
      const v = getCI(raw, fam);
      if (v === undefined || v === null) continue;
      if (!isObject(v)) throw bad(`${where}: "${fam}" must be an object`);
      const c: IPConfig020 = { ip: cidr(v, "ip", `${where} ${fam}`, true)! };
      const gw = ipStr(v, "gateway", `${where} ${fam}`);
      if (gw) c.gateway = gw;
      const routes = objs(v, "routes", `${where} ${fam}`).map((x, i) => parseRoute(x, `${where} ${fam}.routes[${i}]`));
      if (routes.length) c.routes = routes.map((rt) => ({ dst: rt.dst, ...(rt.gw ? { gw: rt.gw } : {}) }));
      r[fam] = c;
    }
    const dns = parseDNS(getCI(raw, "dns"), where);
    if (dns) r.dns = dns;
    return { gen, result: r };
  }
  const interfaces = objs(raw, "interfaces", where).map((x, i) => parseInterface(x, `${where} interfaces[${i}]`));
  const ips = objs(raw, "ips", where).map((x, i) => {
    const w = `${where} ips[${i}]`;
    const ip: IPConfig040 = { version: "", address: cidr(x, "address", w, true)! };
    const gw = ipStr(x, "gateway", w);
    if (gw) ip.gateway = gw;
    const idx = getCI(x, "interface");
    if (idx !== undefined && idx !== null) {
      if (typeof idx !== "number" || !Number.isInteger(idx))
        throw bad(`${w}: "interface" must be an integer, got ${brief(idx)}`);
      ip.interface = idx; // even a negative one, as Go keeps it (users of the index check it)
    }
    // As Go's 040 type reads it: any string, "" when absent (Go's loopback prints none below 1.0.0).
    ip.version = str(x, "version", w) ?? "";
    return ip;
  });
  const routes = objs(raw, "routes", where).map((x, i) => parseRoute(x, `${where} routes[${i}]`));
  const dns = parseDNS(getCI(raw, "dns"), where);
  if (gen === "040") {
    const r: Result040 = { cniVersion };
    if (interfaces.length) r.interfaces = interfaces;
    if (ips.length) r.ips = ips;
    r.routes = routes;
    if (dns) r.dns = dns;
    return { gen, result: r };
  }
  const r: Result = { cniVersion };
  if (interfaces.length) r.interfaces = interfaces;
  if (ips.length) r.ips = ips.map(({ version: _v, ...rest }) => rest);
  if (routes.length) r.routes = routes;
  if (dns) r.dns = dns;
  return { gen, result: r };
}

// ---- conversions (pure) -------------------------------------------------------------------

function v02ToV04(r: Result020, cniVersion: string): Result040 {
  const ips: IPConfig040[] = [];
  const routes: Route[] = [];
  for (const [fam, c] of [
    ["4", r.ip4],
    ["6", r.ip6],
  ] as const) {
    if (!c) continue;
    ips.push({ version: fam, address: c.ip, ...(c.gateway ? { gateway: c.gateway } : {}) });
    for (const rt of c.routes ?? []) routes.push({ ...rt });
  }
  return { cniVersion, ...(ips.length ? { ips } : {}), routes, ...(r.dns ? { dns: structuredClone(r.dns) } : {}) };
}

function v04ToV02(r: Result040, cniVersion: string): Result020 {
  const out: Result020 = { cniVersion };
  for (const ip of r.ips ?? []) {
    // Go's convertTo02x: an IP counts by its "version" only.
    if (ip.version !== "4" && ip.version !== "6") continue;
    const key = ip.version === "4" ? "ip4" : "ip6";
    if (out[key]) continue;
    out[key] = { ip: ip.address, ...(ip.gateway ? { gateway: ip.gateway } : {}) };
  }
  if (!out.ip4 && !out.ip6) throw new CniError(CniCode.IncompatibleCniVersion, "cannot convert: no valid IP addresses");
  for (const rt of r.routes ?? []) {
    const c = ipFamily(rt.dst) === "4" ? out.ip4 : out.ip6;
    if (!c) continue;
    c.routes ??= [];
    c.routes.push({ dst: rt.dst, ...(rt.gw ? { gw: rt.gw } : {}) });
  }
  if (r.dns) out.dns = structuredClone(r.dns);
  return out;
}

function v04ToV1(r: Result040, cniVersion: string): Result {
  const out: Result = { cniVersion };
  if (r.interfaces?.length) {
    out.interfaces = r.interfaces.map((i) => ({
      name: i.name,
      ...(i.mac ? { mac: i.mac } : {}),
      ...(i.sandbox ? { sandbox: i.sandbox } : {}),
    }));
  }
  if (r.ips?.length) out.ips = r.ips.map(({ version: _v, ...rest }) => ({ ...rest }));
  if (r.routes?.length) out.routes = r.routes.map((rt) => ({ ...rt }));
  if (r.dns) out.dns = structuredClone(r.dns);
  return out;
}

function v1ToV04(r: Result, cniVersion: string): Result040 {
  const out: Result040 = { cniVersion };
  if (r.interfaces?.length) {
    out.interfaces = r.interfaces.map((i) => ({
      name: i.name,
      ...(i.mac ? { mac: i.mac } : {}),
      ...(i.sandbox ? { sandbox: i.sandbox } : {}),
    }));
  }
  if (r.ips?.length) out.ips = r.ips.map((ip) => ({ version: ipFamily(ip.address) || "6", ...ip }));
  out.routes = (r.routes ?? []).map((rt) => ({ ...rt }));
  if (r.dns) out.dns = structuredClone(r.dns);
  return out;
}

/**
 * Converts a result (of version `r.cniVersion`) to version `to`, with libcni's rules: same
 * generation → same data, new cniVersion; otherwise through 0.4.0. Throws when the target cannot
 * express the result (to 0.1/0.2 without any IP).
 */
export function convertResult(r: AnyResult, to: string): AnyResult {
  // Go's Convert: a result already labelled `to` comes back as it is.
  if (r.cniVersion === (to === "" ? "0.1.0" : to)) return structuredClone(r);
  const from = generationOf(r.cniVersion);
  const target = generationOf(to);
  const toVersion = to === "" ? "0.1.0" : to;
  if (from === target) {
    const copy = structuredClone(r) as AnyResult;
    copy.cniVersion = toVersion;
    if (from === "040") (copy as Result040).routes ??= [];
    return copy;
  }
  const v04 =
    from === "020"
      ? v02ToV04(r as Result020, "0.4.0")
      : from === "100"
        ? v1ToV04(r as Result, "0.4.0")
        : (r as Result040);
  if (target === "020") return v04ToV02(v04, toVersion);
  if (target === "040") return { ...v04, cniVersion: toVersion };
  return v04ToV1(v04, toVersion);
}

/** Any result in the 1.x shape (what plugins compute with), labelled with version `label`. */
export function toCurrent(r: AnyResult, label = "1.1.0"): Result {
  const cur =
    generationOf(r.cniVersion) === "100" ? (structuredClone(r) as Result) : (convertResult(r, "1.0.0") as Result);
  cur.cniVersion = label;
  return cur;
}

/**
 * A result in the 1.x shape under an older version label. Go's Convert hands a result back
 * unchanged when its label already is the target version, so a types100.Result labelled with the
 * config's (older) version is printed with the 1.x fields as they are: Go's loopback does this
 * when it is not chained (`"ips": [{"interface": 0, "address": "127.0.0.1/8"}]` at 0.2.0).
 */
export interface Result100As extends Result {
  readonly shape: "100";
}

/** The JSON generation `r` prints as: its label's, or the 1.x shape it carries. */
const shapeOf = (r: AnyResult): Generation =>
  (r as Partial<Result100As>).shape === "100" ? "100" : generationOf(r.cniVersion);

/** Go's net.IP.String() of an address text; the text itself when it is not one. */
function goIP(s: string): string {
  try {
    return formatIP(parseIP(s));
  } catch {
    return s;
  }
}

/** Go's net.IPNet.String() of a CIDR text (an IPv4-mapped address prints as IPv4 with its /len − 96). */
function goIPNet(s: string): string {
  const slash = s.lastIndexOf("/");
  if (slash < 0) return s;
  const ip = tryParseIP(s.slice(0, slash));
  const len = Number(s.slice(slash + 1));
  if (!ip || !Number.isInteger(len)) return s;
  const mapped = ip.family === 4 && s.slice(0, slash).includes(":");
  return `${formatIP(ip)}/${mapped ? Math.max(len - 96, 0) : len}`;
}

/** types.DNS: every field omitempty. */
function dnsJSON(d: DNS | undefined): JsonObject {
  const out: JsonObject = {};
  if (d?.nameservers?.length) out["nameservers"] = d.nameservers;
  if (d?.domain) out["domain"] = d.domain;
  if (d?.search?.length) out["search"] = d.search;
  if (d?.options?.length) out["options"] = d.options;
  return out;
}

/** types.Route: dst, gw; the cni ≥ 1.2 fields (spec 1.1.0) only when `extended`. */
function routeJSON(rt: Route, extended: boolean): JsonObject {
  const out: JsonObject = { dst: goIPNet(rt.dst) };
  if (rt.gw) out["gw"] = goIP(rt.gw);
  if (!extended) return out;
  if (rt.mtu) out["mtu"] = rt.mtu;
  if (rt.advmss) out["advmss"] = rt.advmss;
  if (rt.priority) out["priority"] = rt.priority;
  if (rt.table !== undefined) out["table"] = rt.table;
  if (rt.scope !== undefined) out["scope"] = rt.scope;
  return out;
}

function interfaceJSON(i: Interface, extended: boolean): JsonObject {
  const out: JsonObject = { name: i.name };
  if (i.mac) out["mac"] = i.mac;
  if (extended && i.mtu) out["mtu"] = i.mtu;
  if (i.sandbox) out["sandbox"] = i.sandbox;
  if (extended && i.socketPath) out["socketPath"] = i.socketPath;
  if (extended && i.pciID) out["pciID"] = i.pciID;
  return out;
}

function ipJSON(ip: IPConfig | IPConfig040, withVersion: boolean): JsonObject {
  const out: JsonObject = {};
  if (withVersion) out["version"] = (ip as IPConfig040).version;
  if (ip.interface !== undefined) out["interface"] = ip.interface;
  out["address"] = goIPNet(ip.address);
  if (ip.gateway) out["gateway"] = goIP(ip.gateway);
  return out;
}

/**
 * A result as Go's encoding/json writes the result struct of its version (types 020, 040, 100 of
 * the reference's library): fields in the struct's order, empty lists and strings left out, `dns`
 * always there (`{}` when empty: a struct value, which omitempty never drops), IPs in Go's
 * canonical text. 1.0.0 has only the fields of cni 1.1 (interface name/mac/sandbox, route dst/gw);
 * 1.1.0 adds those of cni 1.2 (mtu, socketPath, pciID; route mtu, advmss, priority, table, scope).
 */
export function resultToJSON(r: AnyResult): JsonObject {
  const shape = shapeOf(r);
  const out: JsonObject = {};
  if (r.cniVersion) out["cniVersion"] = r.cniVersion;
  if (shape === "020") {
    const x = r as Result020;
    for (const fam of ["ip4", "ip6"] as const) {
      const c = x[fam];
      if (!c) continue;
      const ipc: JsonObject = { ip: goIPNet(c.ip) };
      if (c.gateway) ipc["gateway"] = goIP(c.gateway);
      if (c.routes?.length) ipc["routes"] = c.routes.map((rt) => routeJSON(rt, false));
      out[fam] = ipc;
    }
  } else {
    const x = r as Result | Result040;
    const extended = r.cniVersion === "1.1.0";
    if (x.interfaces?.length) out["interfaces"] = x.interfaces.map((i) => interfaceJSON(i, extended));
    if (x.ips?.length) out["ips"] = x.ips.map((ip) => ipJSON(ip, shape === "040"));
    if (x.routes?.length) out["routes"] = x.routes.map((rt) => routeJSON(rt, extended));
  }
  out["dns"] = dnsJSON(r.dns);
  return out;
}

/** The bytes Go's types.PrintResult(r, version) writes: `r` converted to `version`, MarshalIndent'ed. */
export function printResult(r: AnyResult, version: string): string {
  return goMarshalIndent(resultToJSON(convertResult(r, version)));
}
