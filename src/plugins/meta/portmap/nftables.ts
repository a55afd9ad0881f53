// The nftables backend: one podnet table whose host-port lookup is a verdict map, so that adding
// or removing a pod's ports is a few map elements and one small chain in one transaction,
// whatever the number of pods (the Go plugin's nftables backend keeps one rule per
// mapping in a shared chain, which every new connection walks, and deletes by listing it).
//
//   table inet podnet_portmap
//     map hostports4    { inet_proto . inet_service : verdict }                 any host address
//     map hostipports4  { ipv4_addr . inet_proto . inet_service : verdict }     one host address
//     map hostports6 / hostipports6                                             the same for IPv6
//     chain hostports     l4proto . dport → vmap (host-IP maps first): `jump hp_<owner hash>`
//     chain prerouting    nat prerouting -100: fib daddr type local jump hostports
//     chain output        nat output -100:     fib daddr type local jump hostports (node → hostPort,
//                                              including 127.0.0.1 with route_localnet)
//     chain postrouting   nat postrouting 100: `meta mark & M == M masquerade`, one rule per mark bit
//     chain mark_<bit>    sets that bit (markMasqBit, default 13): pod chains jump here
//     chain localnet_guard filter input 0:    drops new non-local traffic to 127/8 (route_localnet
//                                              makes 127/8 routable on the pod interface; CVE-2020-8558)
//     chain hp_<hash>     one per attachment, comment = owner: sends hairpin, same-subnet and
//                         localhost sources to mark_<bit>, then one DNAT rule per mapping
//
// The shared part is made once (with `nft -f -`), by the ADD that finds it missing; every other
// ADD is one transaction of its own chain and elements — one nfnetlink batch when the port has a
// socket (the rules compiled to expressions as nft compiles them: nft-expr.ts), `nft -f -` when
// the rules hold user conditions — and deletes nothing (nf_tables deletions wait for an RCU grace
// period, ≈16 ms here). The last DEL removes the whole table.
//
// Ownership: an attachment owns its chain (named by a hash of network, container ID and ifname)
// and the map elements whose verdict jumps to it. A key that is already in a map with another
// verdict is another pod's host port: the kernel refuses the element (EEXIST) and the whole
// transaction, so a conflict changes nothing. Two attachments of one container have two chains
// and never touch each other's elements. A mapping to one host address and a mapping of the same
// port to any address (two maps) coexist: the host-address one wins for its address.
import { createHash } from "node:crypto";
import { CniCode, CniError } from "../../../cni/index.js";
import {
  cidrOf,
  formatIP,
  formatNetwork,
  ipToBytes,
  joinHostPort,
  parseCidr,
  parseIP,
  tryParseIPExact,
} from "../../../ip/index.js";
import {
  NFT_COMMENT_MAX,
  isNftExists,
  isNftGoneOrBusy,
  isNftNotFound,
  nftString,
  type NftCommand,
  type Nftables,
  type NftTable,
} from "../../../kernel/nft.js";
import { dnatTo, jumpTo, matchAddr, matchDport, matchNfproto, type NftExpr } from "../../../kernel/nft-expr.js";
import { nftKey, type NftDelete, type NftOp } from "../../../kernel/nft-netlink.js";
import { isAnyHost, mappingsFor, type PortMapConf } from "./config.js";

export const TABLE = "podnet_portmap";
const T = `inet ${TABLE}`;

export type MapName = "hostports4" | "hostipports4" | "hostports6" | "hostipports6";
export const MAPS: readonly MapName[] = ["hostports4", "hostipports4", "hostports6", "hostipports6"];

export interface Owner {
  readonly network: string;
  readonly containerID: string;
  readonly ifName: string;
}

/** The per-attachment chain: "hp_" + 24 hex characters of sha256(network \0 containerID \0 ifname). */
export function chainName(o: Owner): string {
  return `hp_${createHash("sha256").update(`${o.network}\0${o.containerID}\0${o.ifName}`).digest("hex").slice(0, 24)}`;
}

/** The owner tag written as the chain's comment: "<containerID> <ifname> <network>" (cut to fit). */
export function ownerComment(o: Owner): string {
  const s = `${o.containerID} ${o.ifName} ${o.network}`;
  return Buffer.byteLength(s) <= NFT_COMMENT_MAX
    ? s
    : Buffer.from(s)
        .subarray(0, NFT_COMMENT_MAX)
        .toString("utf8")
        .replace(/\uFFFD+$/, "");
}

export interface NftElement {
  readonly map: MapName;
  /** The key as nft prints it: "tcp . 8080", "10.0.0.1 . udp . 53". */
  readonly key: string;
}

const markHex = (bit: number) => `0x${(2 ** bit).toString(16)}`;

/**
 * The shared part of the table, made by the first ADD (under the lock, when the table is not
 * there). Later ADDs add only their own chain and elements: no rule of a shared chain is
 * rewritten, so an ADD deletes nothing (every nf_tables deletion waits for an RCU grace period).
 */
export function renderSkeleton(): string[] {
  const l4 = "meta l4proto { tcp, udp, sctp }";
  return [
    `add table ${T} { comment "podnet portmap: host ports of pods" ; }`,
    `add map ${T} hostports4 { type inet_proto . inet_service : verdict ; }`,
    `add map ${T} hostipports4 { type ipv4_addr . inet_proto . inet_service : verdict ; }`,
    `add map ${T} hostports6 { type inet_proto . inet_service : verdict ; }`,
    `add map ${T} hostipports6 { type ipv6_addr . inet_proto . inet_service : verdict ; }`,
    `add chain ${T} hostports`,
    `add rule ${T} hostports meta nfproto ipv4 ${l4} ip daddr . meta l4proto . th dport vmap @hostipports4`,
    `add rule ${T} hostports meta nfproto ipv4 ${l4} meta l4proto . th dport vmap @hostports4`,
    `add rule ${T} hostports meta nfproto ipv6 ${l4} ip6 daddr . meta l4proto . th dport vmap @hostipports6`,
    `add rule ${T} hostports meta nfproto ipv6 ${l4} meta l4proto . th dport vmap @hostports6`,
    `add chain ${T} prerouting { type nat hook prerouting priority -100 ; policy accept ; }`,
    `add rule ${T} prerouting fib daddr type local jump hostports`,
    `add chain ${T} output { type nat hook output priority -100 ; policy accept ; }`,
    `add rule ${T} output fib daddr type local jump hostports`,
    `add chain ${T} postrouting { type nat hook postrouting priority 100 ; policy accept ; }`,
    `add chain ${T} localnet_guard { type filter hook input priority 0 ; policy accept ; }`,
    `add rule ${T} localnet_guard ip daddr 127.0.0.0/8 ip saddr != 127.0.0.0/8 ct state != { established, related } ct status != dnat drop`,
  ];
}

/** The chain that marks a packet for masquerade with one mark bit, and the rule that masquerades it. */
export const markChain = (bit: number) => `mark_${bit}`;
export function renderMark(bit: number): string[] {
  const mark = markHex(bit);
  return [
    `add chain ${T} ${markChain(bit)}`,
    `add rule ${T} ${markChain(bit)} meta mark set meta mark | ${mark}`,
    `add rule ${T} postrouting meta mark & ${mark} == ${mark} masquerade`,
  ];
}

/** What one attachment adds: its chain's rules and its map elements. */
export interface NftAttachmentPlan {
  readonly chain: string;
  readonly rules: readonly string[];
  /**
   * Per rule, the expressions nft compiles it to, for the port to send over netlink; undefined
   * when the rules hold user conditions (conditionsV4/V6: nft text, which only nft compiles).
   */
  readonly exprs: ReadonlyArray<readonly NftExpr[]> | undefined;
  readonly elements: readonly NftElement[];
}

const LOOPBACK4 = parseCidr("127.0.0.0/8");

export function planAttachment(conf: PortMapConf, owner: Owner): NftAttachmentPlan {
  const chain = chainName(owner);
  const toMark = `jump ${markChain(conf.markMasqBit)}`;
  const rules: string[] = [];
  const exprs: Array<readonly NftExpr[]> = [];
  let compiled = true;
  const elements: NftElement[] = [];
  const seen = new Set<string>();
  const rule = (text: string, x: readonly NftExpr[] | undefined) => {
    rules.push(text);
    if (x) exprs.push(x);
    else compiled = false;
  };
  for (const family of [4, 6] as const) {
    const cont = family === 4 ? conf.contIPv4 : conf.contIPv6;
    if (!cont) continue;
    const entries = mappingsFor(conf, family);
    if (entries.length === 0) continue;
    const nfproto = family === 4 ? "ipv4" : "ipv6";
    const ipKw = family === 4 ? "ip" : "ip6";
    const cond = (family === 4 ? conf.conditionsV4 : conf.conditionsV6).join(" ");
    const head = `meta nfproto ${nfproto}${cond ? ` ${cond}` : ""}`;
    // The same rules as expressions, when there are no user conditions (only nft compiles those).
    const headX = cond ? undefined : matchNfproto(family);
    const mark = jumpTo(markChain(conf.markMasqBit));
    if (conf.snat) {
      // Hairpin and same-subnet sources (the replies would bypass this node's conntrack), and, for
      // IPv4, connections from the node's loopback: marked here, masqueraded in postrouting.
      if (conf.masqAll) rule(`${head} ${toMark}`, headX && [...headX, ...mark]);
      else {
        // One rule per source, not an anonymous set: nft fetches the elements of every set in the
        // table before each transaction, so a set per pod would make every ADD O(pods).
        for (const src of [cont, ...(family === 4 ? [LOOPBACK4] : [])])
          rule(
            `${head} ${ipKw} saddr ${formatNetwork(src)} ${toMark}`,
            headX && [...headX, ...matchAddr("saddr", src), ...mark],
          );
      }
    }
    const contIP = formatIP(cont.ip);
    for (const e of entries) {
      const any = isAnyHost(e);
      const dst = any ? "" : ` ${ipKw} daddr ${e.hostIP}`;
      const hostIP = any ? undefined : tryParseIPExact(e.hostIP);
      rule(
        `${head}${dst} ${e.protocol} dport ${e.hostPort} dnat ${ipKw} to ${joinHostPort(contIP, e.containerPort)}`,
        headX && (any || hostIP?.family === family)
          ? [
              ...headX,
              ...(hostIP ? matchAddr("daddr", cidrOf(hostIP, family === 4 ? 32 : 128)) : []),
              ...matchDport(e.protocol, e.hostPort),
              ...dnatTo(cont.ip, e.containerPort),
            ]
          : undefined,
      );
      const el: NftElement = any
        ? { map: family === 4 ? "hostports4" : "hostports6", key: `${e.protocol} . ${e.hostPort}` }
        : {
            map: family === 4 ? "hostipports4" : "hostipports6",
            key: `${formatIP(parseIP(e.hostIP))} . ${e.protocol} . ${e.hostPort}`,
          };
      const id = `${el.map}|${el.key}`;
      if (!seen.has(id)) {
        seen.add(id);
        elements.push(el);
      }
    }
  }
  return { chain, rules, exprs: compiled ? exprs : undefined, elements };
}

/**
 * The commands of an ADD when the table is there: the attachment's chain (rebuilt) and elements —
 * as operations the port sends over netlink when it can (their text is the same), or, with user
 * conditions in the rules, as nft text.
 */
export function renderAdd(owner: Owner, plan: NftAttachmentPlan): NftCommand[] {
  const { chain, exprs } = plan;
  if (!exprs)
    return [
      `add chain ${T} ${chain} { comment ${nftString(ownerComment(owner))} ; }`,
      `flush chain ${T} ${chain}`,
      ...plan.rules.map((r) => `add rule ${T} ${chain} ${r}`),
      ...plan.elements.map((e) => renderElement("add", e, chain)),
    ];
  const base = { family: "inet", table: TABLE } as const;
  return [
    { ...base, op: "addChain", chain, comment: ownerComment(owner) },
    { ...base, op: "flushChain", chain },
    ...plan.rules.map((rule, i): NftOp => ({ ...base, op: "addRule", chain, rule, exprs: exprs[i]! })),
    ...plan.elements.map(
      (e): NftOp => ({ ...base, op: "addJump", set: e.map, key: elementKeyBytes(e), keyText: e.key, chain }),
    ),
  ];
}

export function renderElement(op: "add" | "delete", e: NftElement, chain?: string): string {
  return op === "add"
    ? `add element ${T} ${e.map} { ${e.key} : jump ${chain} }`
    : `delete element ${T} ${e.map} { ${e.key} }`;
}

/** The commands of a DEL: the elements, then the (flushed) chain. */
export function renderDel(chain: string | undefined, elements: readonly NftElement[]): string[] {
  return [
    ...elements.map((e) => renderElement("delete", e)),
    ...(chain ? [`flush chain ${T} ${chain}`, `delete chain ${T} ${chain}`] : []),
  ];
}

/** The key of an element as the kernel holds it: each field of "ip . proto . port" padded to 4 bytes. */
export function elementKeyBytes(e: NftElement): Uint8Array {
  const parts = e.key.split(" . ").map((p) => p.trim());
  const withIP = e.map === "hostipports4" || e.map === "hostipports6";
  if (parts.length !== (withIP ? 3 : 2))
    throw new RangeError(`portmap: unexpected key ${JSON.stringify(e.key)} in map ${e.map}`);
  const [proto, port] = parts.slice(-2) as [string, string];
  const num = PROTO_NUMBERS[proto];
  const p = Number(port);
  if (num === undefined || !Number.isInteger(p) || p < 0 || p > 65535)
    throw new RangeError(`portmap: unexpected key ${JSON.stringify(e.key)}`);
  const fields: Uint8Array[] = [new Uint8Array([num]), new Uint8Array([p >> 8, p & 0xff])];
  if (withIP) {
    const ip = tryParseIPExact(parts[0]!);
    if (!ip || ip.family !== (e.map === "hostipports4" ? 4 : 6))
      throw new RangeError(`portmap: unexpected address in key ${JSON.stringify(e.key)}`);
    fields.unshift(ipToBytes(ip));
  }
  return nftKey(fields);
}
const PROTO_NUMBERS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

/** renderDel as deletions the nftables port may send over netlink: the elements, then the chain's rules and the chain. */
export function deleteAttachment(chain: string, elements: readonly NftElement[]): NftDelete[] {
  const base = { family: "inet", table: TABLE } as const;
  return [
    ...elements.map(
      (e): NftDelete => ({ ...base, op: "delElement", set: e.map, key: elementKeyBytes(e), keyText: e.key }),
    ),
    { ...base, op: "flushChain", chain },
    { ...base, op: "delChain", chain },
  ];
}

/** The whole table, as one deletion. */
export const DELETE_TABLE: NftDelete = { op: "delTable", family: "inet", table: TABLE };

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/**
 * True when the table holds nothing of any attachment but `chain` and `elements` (none: nothing
 * of any attachment): no other hp_ chain, no other map element. Deleting the table then leaves
 * the ruleset as it was before the first ADD.
 */
export function onlyAttachment(t: NftTable, chain: string | undefined, elements: readonly NftElement[]): boolean {
  if (t.chains.some((c) => c.startsWith("hp_") && c !== chain)) return false;
  for (const map of MAPS) {
    const mine = new Set(elements.filter((e) => e.map === map).map((e) => hex(elementKeyBytes(e))));
    if ((t.sets.get(map) ?? []).some((k) => !mine.has(hex(k)))) return false;
  }
  return true;
}

// ---- reading the table back (fallback paths, CHECK, GC) ----------------------------------------

export interface TableView {
  /** Per map: key text → target chain of its `jump` verdict. */
  readonly maps: ReadonlyMap<MapName, ReadonlyMap<string, string>>;
  /** The attachment chains present (hp_*). */
  readonly chains: ReadonlySet<string>;
  /** Chain → comment, when `nft list` showed one. */
  readonly comments: ReadonlyMap<string, string>;
}

function keyText(k: unknown): string {
  if (k !== null && typeof k === "object" && "concat" in k && Array.isArray((k as { concat: unknown[] }).concat)) {
    return (k as { concat: unknown[] }).concat.map((x) => String(x)).join(" . ");
  }
  return String(k);
}

/** Parses `nft -j list table inet podnet_portmap`. */
export function parseTableJson(objs: ReadonlyArray<Record<string, unknown>>): TableView {
  const maps = new Map<MapName, Map<string, string>>();
  const chains = new Set<string>();
  for (const o of objs) {
    const m = o["map"] as { name?: string; elem?: unknown[] } | undefined;
    if (m && typeof m.name === "string" && (MAPS as readonly string[]).includes(m.name)) {
      const entries = new Map<string, string>();
      for (const el of m.elem ?? []) {
        if (!Array.isArray(el) || el.length < 2) continue;
        const target = (el[1] as { jump?: { target?: string } })?.jump?.target;
        if (typeof target === "string") entries.set(keyText(el[0]), target);
      }
      maps.set(m.name as MapName, entries);
    }
    const c = o["chain"] as { name?: string } | undefined;
    if (c && typeof c.name === "string" && c.name.startsWith("hp_")) chains.add(c.name);
  }
  return { maps, chains, comments: new Map() };
}

/** Comments of chains from `nft list table`/`nft list chain` text (nft 1.0 leaves them out of JSON). */
export function parseChainComments(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let cur: string | undefined;
  for (const line of text.split("\n")) {
    const c = /^\s*chain (\S+) \{/.exec(line);
    if (c) {
      cur = c[1];
      continue;
    }
    const m = /^\s*comment "(.*)"\s*$/.exec(line);
    if (m && cur) out.set(cur, m[1]!);
  }
  return out;
}

/** Parses the elements `nft get element … { … }` prints: key → jump target. */
export function parseElementsText(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const m = /elements = \{([\s\S]*?)\}/.exec(text);
  if (!m) return out;
  for (const part of m[1]!.split(",")) {
    const kv = /^\s*(.+?)\s*:\s*jump\s+(\S+)\s*$/.exec(part.replace(/\s+/g, " "));
    if (kv) out.set(kv[1]!, kv[2]!);
  }
  return out;
}

// ---- operations -------------------------------------------------------------------------------

export async function readTable(nft: Nftables): Promise<TableView | undefined> {
  let objs: Array<Record<string, unknown>>;
  try {
    objs = await nft.json(["list", "table", "inet", TABLE]);
  } catch (e) {
    if (isNftNotFound(e)) return undefined;
    throw e;
  }
  return parseTableJson(objs);
}

/** Who holds a key: the comment of the chain its element jumps to (error path only). */
async function holderOf(nft: Nftables, e: NftElement): Promise<string | undefined> {
  try {
    const els = parseElementsText(await nft.run(["get", "element", "inet", TABLE, e.map, `{ ${e.key} }`]));
    const target = els.get(e.key) ?? [...els.values()][0];
    if (!target) return undefined;
    const comments = parseChainComments(await nft.run(["list", "chain", "inet", TABLE, target]));
    const c = comments.get(target);
    if (!c) return `chain ${target}`;
    const [cid, ifn, ...net] = c.split(" ");
    return `container ${cid} (${ifn}, network "${net.join(" ")}")`;
  } catch {
    return undefined;
  }
}

function describeElement(e: NftElement): string {
  const parts = e.key.split(" . ");
  const [host, proto, port] = parts.length === 3 ? parts : [undefined, parts[0], parts[1]];
  const fam = e.map.endsWith("6") ? "IPv6" : "IPv4";
  return `host port ${host ? joinHostPort(host, port!) : port}/${proto} (${fam})`;
}

async function exists(nft: Nftables, chain: string): Promise<boolean> {
  try {
    await nft.run(["list", "chain", "inet", TABLE, chain]);
    return true;
  } catch (e) {
    if (isNftNotFound(e)) return false;
    throw e;
  }
}

/**
 * Applies an ADD (the caller holds the lock): one transaction with the attachment's chain and
 * elements; only when that finds the table or the mark chain missing, a second one that adds
 * them too. A host port held by another attachment fails with a CNI error naming it.
 */
export async function nftForward(nft: Nftables, conf: PortMapConf, owner: Owner): Promise<NftAttachmentPlan> {
  const plan = planAttachment(conf, owner);
  const pod = renderAdd(owner, plan);
  try {
    try {
      await nft.apply(pod);
    } catch (e) {
      if (!isNftNotFound(e)) throw e;
      const table = await exists(nft, "postrouting");
      const mark = table && (await exists(nft, markChain(conf.markMasqBit)));
      await nft.apply([...(table ? [] : renderSkeleton()), ...(mark ? [] : renderMark(conf.markMasqBit)), ...pod]);
    }
  } catch (e) {
    if (isNftExists(e) && e.command) {
      const el = plan.elements.find(
        (x) => e.command === renderElement("add", x, plan.chain) || e.command!.includes(`${x.map} { ${x.key} :`),
      );
      if (el) {
        const holder = await holderOf(nft, el);
        throw new CniError(
          CniCode.InvalidNetworkConfig,
          `${describeElement(el)} is already mapped${holder ? ` by ${holder}` : " to another pod"}; nothing was changed`,
          { cause: e },
        );
      }
    }
    throw new CniError(CniCode.Internal, `failed to set up host ports: ${(e as Error).message}`, { cause: e });
  }
  return plan;
}

/**
 * Removes an attachment's elements and chain. With `known` (from the state file) this is one
 * transaction and no listing (over netlink when the port has it); when that fails because
 * something is already gone, or without state, the table is read once and exactly what jumps to
 * the attachment's chain is removed. Returns false when the table is not there at all.
 */
export async function nftUnforward(
  nft: Nftables,
  chain: string,
  known: readonly NftElement[] | undefined,
): Promise<boolean> {
  if (known) {
    try {
      await nft.apply(deleteAttachment(chain, known));
      return true;
    } catch (e) {
      if (!isNftGoneOrBusy(e)) throw e;
    }
  }
  const view = await readTable(nft);
  if (!view) return false;
  const mine: NftElement[] = [];
  for (const [map, entries] of view.maps)
    for (const [key, target] of entries) if (target === chain) mine.push({ map, key });
  await nft.apply(renderDel(view.chains.has(chain) ? chain : undefined, mine));
  return true;
}

/** CHECK: the chain exists with one DNAT per mapping, and every key jumps to it. */
export async function nftCheck(nft: Nftables, conf: PortMapConf, owner: Owner): Promise<void> {
  const plan = planAttachment(conf, owner);
  if (plan.elements.length === 0) return;
  let chainObjs: Array<Record<string, unknown>>;
  try {
    chainObjs = await nft.json(["list", "chain", "inet", TABLE, plan.chain]);
  } catch (e) {
    if (isNftNotFound(e))
      throw new CniError(
        CniCode.Internal,
        `portmap: chain ${plan.chain} of ${owner.containerID}/${owner.ifName} not found in table inet ${TABLE}`,
      );
    throw e;
  }
  const dnats = chainObjs.flatMap((o) =>
    ((o["rule"] as { expr?: unknown[] } | undefined)?.expr ?? []).filter(
      (x) => x !== null && typeof x === "object" && "dnat" in x,
    ),
  );
  const want = plan.rules.filter((r) => r.includes(" dnat ")).length;
  if (dnats.length < want)
    throw new CniError(
      CniCode.Internal,
      `portmap: missing hostport rules in chain ${plan.chain}: ${dnats.length} DNAT rules, want ${want}`,
    );
  const byMap = new Map<MapName, NftElement[]>();
  for (const e of plan.elements) byMap.set(e.map, [...(byMap.get(e.map) ?? []), e]);
  for (const [map, els] of byMap) {
    let got: Map<string, string>;
    try {
      got = parseElementsText(
        await nft.run(["get", "element", "inet", TABLE, map, `{ ${els.map((e) => e.key).join(", ")} }`]),
      );
    } catch (e) {
      if (isNftNotFound(e))
        throw new CniError(
          CniCode.Internal,
          `portmap: missing host port elements in map ${map} for ${owner.containerID}/${owner.ifName}`,
        );
      throw e;
    }
    for (const el of els) {
      const t = got.get(el.key);
      if (t !== plan.chain)
        throw new CniError(
          CniCode.Internal,
          `portmap: ${describeElement(el)} ${t ? `jumps to ${t}, not ${plan.chain}` : "is missing"}`,
        );
    }
  }
}
