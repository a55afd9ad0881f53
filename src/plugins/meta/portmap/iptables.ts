// The iptables backend: the Go plugin's exact layout (table nat; chain names, hashes, comments and
// mark values as in plugins/meta/portmap/portmap_iptables.go), so that rules made by either
// plugin are found, checked and removed by the other. Differences: one `iptables-save` and one
// `iptables-restore --noflush` per family (through src/kernel/iptables.ts) instead of an exec per
// rule; a host port already forwarded to another container is refused instead of shadowed; two
// attachments of one container (same chain, as Go names it by network + container ID) only
// remove their own rules. Rules are rendered with the kernel layer's ruleText, so they compare
// byte for byte with what iptables-save prints.
//
//   PREROUTING, OUTPUT:   -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
//   CNI-HOSTPORT-DNAT:    -p tcp -m comment --comment "dnat name: …" -m multiport --dports 8080,8043 -j CNI-DN-<hash>
//   CNI-DN-<hash>:        [-s <pod subnet> … -j CNI-HOSTPORT-SETMARK] [-s 127.0.0.1/32 … -j SETMARK] … -j DNAT --to-destination …
//   POSTROUTING (first):  -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
//   CNI-HOSTPORT-SETMARK: -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000
//   CNI-HOSTPORT-MASQ:    -m mark --mark 0x2000/0x2000 -j MASQUERADE
import { CniCode, CniError } from "../../../cni/index.js";
import { formatIP, formatNetwork, parseIP } from "../../../ip/index.js";
import { type IPTables, type SavedTable, restoreInput, ruleText, splitRule } from "../../../kernel/iptables.js";
import { mustFormatChainNameWithPrefix } from "../../utils.js";
import { isAnyHost, mappingsFor, type PortMapConf, type PortMapEntry } from "./config.js";

export type IptFamily = 4 | 6;
/** iptables and ip6tables. */
export type IPTablesByFamily = Readonly<Record<IptFamily, IPTables>>;

export const TOP_DNAT = "CNI-HOSTPORT-DNAT";
export const SETMARK = "CNI-HOSTPORT-SETMARK";
export const MASQ = "CNI-HOSTPORT-MASQ";
export const OLD_TOP_SNAT = "CNI-HOSTPORT-SNAT";

/** `CNI-DN-` + 21 hex characters of sha512(network + containerID). */
export const dnatChainName = (network: string, containerID: string) =>
  mustFormatChainNameWithPrefix(network, containerID, "DN-");
/** The chain of portmap versions before 0.7, removed on DEL when found. */
export const oldSnatChainName = (network: string, containerID: string) =>
  mustFormatChainNameWithPrefix(network, containerID, "SN-");

/** Go's %#x/%#x of 1<<bit. */
export const markDef = (bit: number) => {
  const v = `0x${(2 ** bit).toString(16)}`;
  return `${v}/${v}`;
};

/**
 * Go's trimComment meant "at most 255 characters" (xt_comment's limit) but keeps 253 + "...",
 * 256, which iptables refuses; this keeps 252 + "...".
 */
export function trimComment(s: string): string {
  return s.length <= 255 ? s : `${s.slice(0, 252)}...`;
}

/** Go's splitPortList: comma-joined chunks of at most 15 ports (the multiport limit). */
export function splitPortList(ports: readonly number[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < ports.length; i += 15) out.push(ports.slice(i, i + 15).join(","));
  return out;
}

const hostCidr = (ip: string) => {
  const p = parseIP(ip);
  return `${formatIP(p)}/${p.family === 4 ? 32 : 128}`;
};

/** The rules of one family, as iptables-save prints them (spec text after "-A <chain> "). */
export interface IptPlan {
  readonly family: IptFamily;
  readonly chain: string;
  readonly rules: readonly string[];
  readonly entryRules: readonly string[];
  /** Whether the entry rules carry user conditions (then they cannot be compared as text). */
  readonly conditional: boolean;
}

/** Go's fillDnatRules for one container address, in iptables-save's canonical order. */
export function planFamily(
  conf: PortMapConf,
  network: string,
  containerID: string,
  family: IptFamily,
): IptPlan | undefined {
  const cont = family === 4 ? conf.contIPv4 : conf.contIPv6;
  if (!cont) return undefined;
  const chain = dnatChainName(network, containerID);
  const setMark = conf.externalSetMarkChain ?? SETMARK;
  const comment = trimComment(`dnat name: "${network}" id: "${containerID}"`);
  const conditions = family === 4 ? conf.conditionsV4 : conf.conditionsV6;

  // Entry rules: every mapping's port (Go includes those skipped below for the other family).
  const byProto = new Map<string, number[]>();
  for (const e of conf.portMappings) byProto.set(e.protocol, [...(byProto.get(e.protocol) ?? []), e.hostPort]);
  const entryRules: string[] = [];
  for (const proto of [...byProto.keys()].sort()) {
    for (const ports of splitPortList(byProto.get(proto)!)) {
      entryRules.push(
        ruleText([
          "-p",
          proto,
          "-m",
          "comment",
          "--comment",
          comment,
          "-m",
          "multiport",
          "--dports",
          ports,
          ...conditions,
        ]),
      );
    }
  }

  const rules: string[] = [];
  const contIP = formatIP(cont.ip);
  const target = family === 4 ? `${contIP}` : `[${contIP}]`;
  for (const e of mappingsFor(conf, family)) {
    const d = isAnyHost(e) ? [] : ["-d", hostCidr(e.hostIP)];
    const match = (src: string[]) => [...src, ...d, "-p", e.protocol, "-m", e.protocol, "--dport", String(e.hostPort)];
    if (conf.snat) {
      const masqCidr = conf.masqAll ? (family === 4 ? "0.0.0.0/0" : "::/0") : formatNetwork(cont);
      // iptables-save leaves out a match-everything source.
      rules.push(ruleText([...match(conf.masqAll ? [] : ["-s", masqCidr]), "-j", setMark]));
      if (family === 4 && !conf.masqAll) rules.push(ruleText([...match(["-s", "127.0.0.1/32"]), "-j", setMark]));
    }
    rules.push(ruleText([...match([]), "-j", "DNAT", "--to-destination", `${target}:${e.containerPort}`]));
  }
  return { family, chain, rules, entryRules, conditional: conditions.length > 0 };
}

const has = (t: SavedTable, chain: string, spec: string) => t.rules.some((r) => r.chain === chain && r.spec === spec);
const rulesOf = (t: SavedTable, chain: string) => t.rules.filter((r) => r.chain === chain);

/** A DNAT rule of some CNI-DN chain, read back: which host port it forwards. */
interface Forward {
  readonly chain: string;
  readonly proto: string;
  readonly port: number;
  readonly host: string | undefined;
}

function forwardsOf(t: SavedTable): Forward[] {
  const out: Forward[] = [];
  for (const r of t.rules) {
    if (!r.chain.startsWith("CNI-DN-") || !/-j DNAT\b/.test(r.spec)) continue;
    const a = splitRule(r.spec);
    const val = (k: string) => {
      const i = a.indexOf(k);
      return i >= 0 && a[i - 1] !== "!" ? a[i + 1] : undefined;
    };
    const proto = val("-p");
    const port = Number(val("--dport"));
    if (!proto || !Number.isInteger(port)) continue;
    const d = val("-d");
    out.push({ chain: r.chain, proto, port, host: d ? d.replace(/\/(32|128)$/, "") : undefined });
  }
  return out;
}

/** A host port this plan would forward that another container's chain already forwards. */
export function findConflict(
  t: SavedTable,
  plan: IptPlan,
  conf: PortMapConf,
): { entry: PortMapEntry; chain: string } | undefined {
  const others = forwardsOf(t).filter((f) => f.chain !== plan.chain);
  for (const e of mappingsFor(conf, plan.family)) {
    const host = isAnyHost(e) ? undefined : formatIP(parseIP(e.hostIP));
    const hit = others.find(
      (f) =>
        f.proto === e.protocol &&
        f.port === e.hostPort &&
        (f.host === undefined || host === undefined || f.host === host),
    );
    if (hit) return { entry: e, chain: hit.chain };
  }
  return undefined;
}

/** The restore lines that bring one family to the plan (append-unique, as Go's setup()). */
export function renderForward(t: SavedTable, plan: IptPlan, conf: PortMapConf): string[] {
  const lines: string[] = [];
  const ensureChain = (c: string) => {
    if (!t.chains.has(c)) lines.push(`-N ${c}`);
  };
  const appendUnique = (c: string, spec: string) => {
    if (!has(t, c, spec)) lines.push(`-A ${c} ${spec}`);
  };
  if (conf.snat && conf.externalSetMarkChain === undefined) {
    const m = markDef(conf.markMasqBit);
    ensureChain(SETMARK);
    appendUnique(
      SETMARK,
      ruleText(["-m", "comment", "--comment", "CNI portfwd masquerade mark", "-j", "MARK", "--set-xmark", m]),
    );
    ensureChain(MASQ);
    appendUnique(MASQ, ruleText(["-m", "mark", "--mark", m, "-j", "MASQUERADE"]));
    const jump = ruleText(["-m", "comment", "--comment", "CNI portfwd requiring masquerade", "-j", MASQ]);
    if (!has(t, "POSTROUTING", jump)) lines.push(`-I POSTROUTING 1 ${jump}`);
  }
  ensureChain(TOP_DNAT);
  for (const c of ["PREROUTING", "OUTPUT"])
    appendUnique(c, ruleText(["-m", "addrtype", "--dst-type", "LOCAL", "-j", TOP_DNAT]));
  ensureChain(plan.chain);
  for (const r of plan.rules) appendUnique(plan.chain, r);
  for (const r of plan.entryRules) appendUnique(TOP_DNAT, `${r} -j ${plan.chain}`);
  return lines;
}

/**
 * The restore lines of a DEL for one family. With `mine` (this attachment's rules, from its state
 * file) only those go, and the chain only when nothing else is left in it; without (rules made by
 * the Go plugin, or lost state) the whole chain and every jump to it go, as Go's teardown().
 */
export function renderUnforward(
  t: SavedTable,
  chain: string,
  mine: Pick<IptPlan, "rules" | "entryRules"> | undefined,
  oldChain?: string,
): string[] {
  const lines: string[] = [];
  const dropChain = (c: string, top: string) => {
    if (!t.chains.has(c)) return;
    for (const r of rulesOf(t, top)) if (r.spec.endsWith(`-j ${c}`)) lines.push(`-D ${top} ${r.spec}`);
    lines.push(`-F ${c}`, `-X ${c}`);
  };
  if (t.chains.has(chain)) {
    if (mine) {
      const ours = new Set(mine.rules);
      const left = rulesOf(t, chain).filter((r) => !ours.has(r.spec));
      if (left.length === 0) dropChain(chain, TOP_DNAT);
      else {
        for (const r of rulesOf(t, chain)) if (ours.has(r.spec)) lines.push(`-D ${chain} ${r.spec}`);
        const entries = new Set(mine.entryRules.map((e) => `${e} -j ${chain}`));
        for (const r of rulesOf(t, TOP_DNAT)) if (entries.has(r.spec)) lines.push(`-D ${TOP_DNAT} ${r.spec}`);
      }
    } else dropChain(chain, TOP_DNAT);
  }
  if (oldChain) dropChain(oldChain, OLD_TOP_SNAT);
  return lines;
}

export interface IptFamilyState {
  readonly chain: string;
  readonly rules: readonly string[];
  readonly entryRules: readonly string[];
}

/** The nat table; undefined when the tool or the table cannot be used. */
const readNat = (ipt: IPTables): Promise<SavedTable | undefined> => ipt.save("nat").catch(() => undefined);

/** One restore of the nat table (nothing when there are no lines). */
async function restoreNat(ipt: IPTables, lines: readonly string[]): Promise<void> {
  if (lines.length > 0) await ipt.restore(restoreInput("nat", lines));
}

function usable(t: SavedTable | undefined, family: IptFamily): SavedTable {
  if (!t)
    throw new CniError(
      CniCode.Internal,
      `failed to open ${family === 6 ? "ip6tables" : "iptables"}: the nat table cannot be read`,
    );
  return t;
}

/** ADD for every family with an address: conflicts are checked before anything changes. */
export async function iptForward(
  ipt: IPTablesByFamily,
  conf: PortMapConf,
  network: string,
  containerID: string,
): Promise<Record<string, IptFamilyState>> {
  const plans = ([4, 6] as const)
    .map((f) => planFamily(conf, network, containerID, f))
    .filter((p): p is IptPlan => p !== undefined);
  const tables = new Map<IptFamily, SavedTable>();
  for (const p of plans) {
    const t = usable(await readNat(ipt[p.family]), p.family);
    tables.set(p.family, t);
    const c = findConflict(t, p, conf);
    if (c) {
      const where = c.entry.hostIP && !isAnyHost(c.entry) ? `${c.entry.hostIP}:` : "";
      throw new CniError(
        CniCode.InvalidNetworkConfig,
        `host port ${where}${c.entry.hostPort}/${c.entry.protocol} (IPv${p.family}) is already forwarded by iptables chain ${c.chain}; nothing was changed`,
      );
    }
  }
  const done: IptPlan[] = [];
  try {
    for (const p of plans) {
      await restoreNat(ipt[p.family], renderForward(tables.get(p.family)!, p, conf));
      done.push(p);
    }
  } catch (e) {
    for (const p of done) {
      const t = await readNat(ipt[p.family]);
      if (t) await restoreNat(ipt[p.family], renderUnforward(t, p.chain, p)).catch(() => {});
    }
    throw new CniError(CniCode.Internal, `failed to set up host ports: ${(e as Error).message}`, { cause: e });
  }
  return Object.fromEntries(
    plans.map((p) => [String(p.family), { chain: p.chain, rules: p.rules, entryRules: p.entryRules }]),
  );
}

/** Neither iptables nor ip6tables could be read: there is nothing to tear down with. */
export class NoIptablesError extends CniError {
  override name = "NoIptablesError";
  constructor() {
    super(CniCode.Internal, "neither iptables nor ip6tables is usable");
  }
}

/** DEL for both families; a family whose iptables cannot be used is skipped (Go: unless both are). */
export async function iptUnforward(
  ipt: IPTablesByFamily,
  network: string,
  containerID: string,
  mine: Partial<Record<string, IptFamilyState>> | undefined,
): Promise<void> {
  const chain = dnatChainName(network, containerID);
  const old = oldSnatChainName(network, containerID);
  const errors: string[] = [];
  let usableCount = 0;
  for (const f of [4, 6] as const) {
    const t = await readNat(ipt[f]);
    if (!t) continue;
    usableCount++;
    const m = mine ? mine[String(f)] : undefined;
    const lines = renderUnforward(t, chain, mine ? (m ?? { rules: [], entryRules: [] }) : undefined, old);
    try {
      await restoreNat(ipt[f], lines);
    } catch (e) {
      errors.push(`could not teardown ipv${f} dnat: ${(e as Error).message}`);
    }
  }
  if (usableCount === 0) throw new NoIptablesError();
  if (errors.length) throw new CniError(CniCode.Internal, errors.join("; "));
}

/** CHECK: Go's chain.check() — the chain exists and holds every rule, and every entry rule is there. */
export async function iptCheck(
  ipt: IPTablesByFamily,
  conf: PortMapConf,
  network: string,
  containerID: string,
): Promise<void> {
  for (const f of [4, 6] as const) {
    const p = planFamily(conf, network, containerID, f);
    if (!p) continue;
    const t = await readNat(ipt[f]);
    if (!t)
      throw new CniError(
        CniCode.Internal,
        `could not check ipv${f} dnat: ${f === 6 ? "ip6tables" : "iptables"} is not usable`,
      );
    if (!t.chains.has(p.chain))
      throw new CniError(
        CniCode.Internal,
        `could not check ipv${f} dnat: chain ${p.chain} not found in iptables table nat`,
      );
    for (const r of [...p.rules].reverse()) {
      if (!has(t, p.chain, r))
        throw new CniError(CniCode.Internal, `could not check ipv${f} dnat: rule "${r}" not found in chain ${p.chain}`);
    }
    for (const r of p.entryRules) {
      const spec = `${r} -j ${p.chain}`;
      if (has(t, TOP_DNAT, spec)) continue;
      if (p.conditional) {
        // User conditions are not in canonical form: ask iptables itself.
        if (await ipt[f].hasRule("nat", TOP_DNAT, splitRule(spec)).catch(() => false)) continue;
      }
      throw new CniError(
        CniCode.Internal,
        `could not check ipv${f} dnat: rule "${spec}" not found in chain ${TOP_DNAT}`,
      );
    }
  }
}
