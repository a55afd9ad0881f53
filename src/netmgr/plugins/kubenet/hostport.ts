// hostPort for kubenet: the kubelet's HostportManager (1.23 shape). Per mapping a KUBE-HP-<hash>
// chain that DNATs to the pod, jumped to from KUBE-HOSTPORTS, which OUTPUT and PREROUTING reach for
// local destinations; the host port itself is held open (listen/bind) while the pod lives, which is
// how conflicts with host daemons and other pods are found. One manager per IP family.
//
// podnet: one `iptables-restore --noflush` per pod operation and no table listing on the hot path.
// The first operation reads the nat table (iptables-save), ensures KUBE-HOSTPORTS and its jumps,
// and learns which KUBE-HP-* chains exist; later adds only create the pod's chains and insert their
// jumps, and removes flush, unlink (-D, the exact jump rule) and delete (-X) them, in one
// transaction each. If such a restore fails (the table was changed behind our back: a rule
// missing, KUBE-HOSTPORTS flushed), the operation is redone the kubelet's way — save, rewrite the
// hostport chains, restore — which also re-learns the table.
import { createHash } from "node:crypto";
import {
  chainLine,
  quoteString,
  restoreInput,
  ruleLine,
  ruleText,
  splitRule,
  type IPTables,
  type PendingRestore,
  type SavedTable,
} from "../../../kernel/iptables.js";
import { type Logger, nullLogger } from "../../core/log.js";
import { type PortMapping, podFullName, type Protocol } from "../../core/plugin.js";
import { Mutex } from "../../../util/keyed-mutex.js";
import { ipFamily, joinHostPort } from "../../../ip/index.js";

export const KUBE_HOSTPORTS_CHAIN = "KUBE-HOSTPORTS";
export const KUBE_HOSTPORT_CHAIN_PREFIX = "KUBE-HP-";
export const KUBE_MARK_MASQ_CHAIN = "KUBE-MARK-MASQ";

export interface PodPortMapping {
  readonly namespace: string;
  readonly name: string;
  readonly portMappings: readonly PortMapping[];
  readonly hostNetwork: boolean;
  /** The pod's address in this manager's family ("" when unknown, e.g. on removal). */
  readonly ip: string;
}

/** A held host port. */
export interface Closeable {
  close(): Promise<void>;
}

export interface HostportKey {
  readonly ip: string;
  readonly port: number;
  readonly protocol: "tcp" | "udp";
  readonly family: 4 | 6;
}

/** Opens (listens on / binds) a host port and holds it. */
export type PortOpener = (hp: HostportKey) => Promise<Closeable>;

/** Clears UDP conntrack entries of a port (`conntrack -D -p udp --dport P`). */
export type ConntrackClearer = (port: number, ipv6: boolean) => Promise<void>;

const isIPv6 = (ip: string) => ipFamily(ip) === 6;

/** base32 (RFC 4648 standard alphabet, padded) as Go's base32.StdEncoding. */
export function base32Std(buf: Uint8Array): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of buf) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += "=";
  return out;
}

/** KUBE-HP- + the first 16 base32 characters of sha256(id + hostPort + protocol + hostIP). Never change. */
export function hostportChainName(id: string, pm: Pick<PortMapping, "hostPort" | "protocol" | "hostIP">): string {
  const hash = createHash("sha256").update(`${id}${pm.hostPort}${pm.protocol}${pm.hostIP}`).digest();
  return KUBE_HOSTPORT_CHAIN_PREFIX + base32Std(hash).slice(0, 16);
}

/** Mappings with a hostPort whose hostIP (if any) is of the given family. */
export function gatherHostportMappings(ppm: PodPortMapping, ipv6: boolean): PortMapping[] {
  return ppm.portMappings.filter((pm) => pm.hostPort > 0 && (pm.hostIP === "" || isIPv6(pm.hostIP) === ipv6));
}

const isUnspecified = (ip: string) => ip === "0.0.0.0" || ip === "::";

/** The chain line and the three rules of one mapping, as restore lines (pure; golden-tested). */
export function hostportRules(
  id: string,
  ppm: PodPortMapping,
  pm: PortMapping,
): { chain: string; chainLine: string; rules: string[] } {
  const chain = hostportChainName(id, pm);
  const proto = pm.protocol.toLowerCase();
  const comment = ["-m", "comment", "--comment", `${podFullName(ppm.namespace, ppm.name)} hostport ${pm.hostPort}`];
  const dnat = ["-m", proto, "-p", proto];
  if (pm.hostIP !== "" && !isUnspecified(pm.hostIP)) dnat.push("-d", pm.hostIP);
  dnat.push("-j", "DNAT", `--to-destination=${joinHostPort(ppm.ip, pm.containerPort)}`);
  return {
    chain,
    chainLine: chainLine(chain),
    rules: [
      `-I ${KUBE_HOSTPORTS_CHAIN} ${ruleText([...comment, "-m", proto, "-p", proto, "--dport", String(pm.hostPort), "-j", chain])}`,
      `-A ${chain} ${ruleText([...comment, "-s", ppm.ip, "-j", KUBE_MARK_MASQ_CHAIN])}`,
      `-A ${chain} ${ruleText([...comment, ...dnat])}`,
    ],
  };
}

const isHostportChain = (name: string) =>
  name.startsWith(KUBE_HOSTPORTS_CHAIN) || name.startsWith(KUBE_HOSTPORT_CHAIN_PREFIX);

/** From `iptables-save -t nat`: the hostport chains (name → chain line) and their rules (`-A` lines), in order. */
export function existingHostportRules(save: SavedTable): { chains: Map<string, string>; rules: string[] } {
  const chains = new Map<string, string>();
  for (const name of save.chains) if (isHostportChain(name)) chains.set(name, chainLine(name));
  const rules = save.rules.filter((r) => isHostportChain(r.chain)).map(ruleLine);
  return { chains, rules };
}

/** Rules that mention none of `chains` (order kept). */
export const filterRules = (rules: readonly string[], chains: readonly string[]): string[] =>
  rules.filter((r) => !chains.some((c) => r.includes(c)));

/** The args of the jumps to KUBE-HOSTPORTS, and of the localhost SNAT rule. */
export const HOSTPORT_JUMP_ARGS = [
  "-m",
  "comment",
  "--comment",
  "kube hostport portals",
  "-m",
  "addrtype",
  "--dst-type",
  "LOCAL",
  "-j",
  KUBE_HOSTPORTS_CHAIN,
] as const;
export const localhostSnatArgs = (natInterfaceName: string, ipv6: boolean): string[] => [
  "-m",
  "comment",
  "--comment",
  "SNAT for localhost access to hostports",
  "-o",
  natInterfaceName,
  "-s",
  ipv6 ? "::1/128" : "127.0.0.0/8",
  "-j",
  "MASQUERADE",
];

export async function ensureKubeHostportChains(ipt: IPTables, natInterfaceName: string): Promise<void> {
  try {
    await ipt.ensureChain("nat", KUBE_HOSTPORTS_CHAIN);
  } catch (e) {
    throw new Error(`failed to ensure that nat chain ${KUBE_HOSTPORTS_CHAIN} exists: ${(e as Error).message}`, {
      cause: e,
    });
  }
  for (const chain of ["OUTPUT", "PREROUTING"]) {
    try {
      await ipt.ensureRule("append", "nat", chain, HOSTPORT_JUMP_ARGS);
    } catch (e) {
      throw new Error(
        `failed to ensure that nat chain ${chain} jumps to ${KUBE_HOSTPORTS_CHAIN}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
  if (natInterfaceName !== "" && natInterfaceName !== "lo") {
    try {
      await ipt.ensureRule("append", "nat", "POSTROUTING", localhostSnatArgs(natInterfaceName, ipt.ipv6));
    } catch (e) {
      throw new Error(`failed to ensure that nat chain POSTROUTING jumps to MASQUERADE: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
}

/**
 * Whether `iptables-save -t nat` output already has what ensureKubeHostportChains would add (the
 * chain, both jumps, the localhost SNAT rule): then Add needs no `-C` round trips (≈4 execs).
 */
export function hostportChainsPresent(save: SavedTable, natInterfaceName: string): boolean {
  const has = (chain: string, ...parts: string[]) =>
    save.rules.some((r) => r.chain === chain && parts.every((p) => `${ruleLine(r)} `.includes(p)));
  if (!save.chains.has(KUBE_HOSTPORTS_CHAIN)) return false;
  const portals = quoteString("kube hostport portals");
  if (!has("OUTPUT", portals, `-j ${KUBE_HOSTPORTS_CHAIN} `)) return false;
  if (!has("PREROUTING", portals, `-j ${KUBE_HOSTPORTS_CHAIN} `)) return false;
  if (
    natInterfaceName !== "" &&
    natInterfaceName !== "lo" &&
    !has("POSTROUTING", quoteString("SNAT for localhost access to hostports"), `-o ${natInterfaceName} `)
  )
    return false;
  return true;
}

const hpKey = (k: HostportKey) => `${k.family}/${k.protocol}/${k.ip}/${k.port}`;

export interface HostportManagerDeps {
  readonly iptables: IPTables;
  readonly openPort: PortOpener;
  readonly clearConntrack?: ConntrackClearer;
  readonly log?: Logger;
}

export class HostportManager {
  private readonly held = new Map<string, Closeable>();
  private readonly deps: HostportManagerDeps;
  private readonly log: Logger;
  /** One hostport change of this family at a time (the nat table is read and rewritten whole). */
  private readonly mutex = new Mutex();
  /** KUBE-HP-* chains in the nat table as of our last save or restore; undefined: not read yet. */
  private known: Set<string> | undefined;
  /** The NAT interface whose KUBE-HOSTPORTS chain and jumps were last ensured. */
  private readyFor: string | undefined;
  /** Operations done with one restore (`fast`) and the kubelet's way (`full`), for tests and metrics. */
  readonly counts = { fast: 0, full: 0 };

  constructor(deps: HostportManagerDeps) {
    this.deps = deps;
    this.log = deps.log ?? nullLogger;
  }

  get ipv6(): boolean {
    return this.deps.iptables.ipv6;
  }

  /** Ports held open now ("4/tcp//8080" …), for tests and status. */
  heldPorts(): string[] {
    return [...this.held.keys()];
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(fn);
  }

  private keyOf(pm: PortMapping): HostportKey | undefined {
    if (pm.protocol === "SCTP") return undefined; // no socket for SCTP (the SCTP KEP)
    return {
      ip: pm.hostIP,
      port: pm.hostPort,
      protocol: pm.protocol === "UDP" ? "udp" : "tcp",
      family: this.ipv6 ? 6 : 4,
    };
  }

  /**
   * Does now what the first add() would: ensures KUBE-HOSTPORTS and its jumps for
   * `natInterfaceName` and learns the KUBE-HP-* chains, so that every add() is one restore.
   */
  async prime(natInterfaceName: string): Promise<void> {
    await this.locked(async () => {
      let save = await this.saveNat();
      if (!hostportChainsPresent(save, natInterfaceName)) {
        await ensureKubeHostportChains(this.deps.iptables, natInterfaceName);
        save = await this.saveNat();
      }
      this.learn(existingHostportRules(save).chains.keys());
      this.readyFor = natInterfaceName;
    });
    this.deps.iptables.warmRestore?.();
  }

  /**
   * When the next add() will be one restore: that restore, started now, so that its process start-up
   * overlaps the caller's work until it knows the pod's IP; pass it to add() (which commits it, or
   * cancels it when add() goes another way). Undefined when add() will need iptables-save first.
   */
  prepareAdd(natInterfaceName: string): PendingRestore | undefined {
    if (!this.known || this.readyFor !== natInterfaceName) return undefined;
    return this.deps.iptables.startRestore?.();
  }

  async add(
    id: string,
    ppm: PodPortMapping | undefined,
    natInterfaceName: string,
    pending?: PendingRestore,
  ): Promise<void> {
    try {
      await this.addLocked(id, ppm, natInterfaceName, pending);
    } finally {
      pending?.cancel(); // unused (another path was taken): an empty restore ends its process
    }
  }

  private async addLocked(
    id: string,
    ppm: PodPortMapping | undefined,
    natInterfaceName: string,
    pending: PendingRestore | undefined,
  ): Promise<void> {
    if (!ppm || ppm.hostNetwork) return;
    const full = podFullName(ppm.namespace, ppm.name);
    const mappings = gatherHostportMappings(ppm, this.ipv6);
    if (mappings.length === 0) return;
    if (ipFamily(ppm.ip) === undefined) throw new Error(`invalid or missing IP of pod ${full}`);
    if (isIPv6(ppm.ip) !== this.ipv6)
      throw new Error(`HostPortManager IP family mismatch: ${ppm.ip}, isIPv6 - ${isIPv6(ppm.ip)}`);
    await this.locked(async () => {
      // open every port first; on any failure close what was just opened
      const opened: Array<[string, Closeable]> = [];
      for (const pm of mappings) {
        const k = this.keyOf(pm);
        if (!k || this.held.has(hpKey(k))) continue; // already ours (a repeated Add for the same pod)
        try {
          opened.push([hpKey(k), await this.deps.openPort(k)]);
        } catch (e) {
          for (const [, s] of opened) await s.close().catch(() => {});
          throw new Error(`cannot open hostport ${pm.hostPort} for pod ${full}: ${(e as Error).message}`, { cause: e });
        }
      }
      const closeOpened = async () => {
        for (const [k, s] of opened) {
          await s.close().catch(() => {});
          this.held.delete(k);
        }
      };
      for (const [k, s] of opened) this.held.set(k, s);

      if (this.known && this.readyFor === natInterfaceName) {
        try {
          await this.fastAdd(id, ppm, mappings, this.known, pending);
          this.counts.fast++;
        } catch (e) {
          this.log.debug("one-restore hostport add failed; redoing it from iptables-save", { err: e });
          this.known = undefined;
        }
      }
      if (!this.known || this.readyFor !== natInterfaceName) {
        try {
          await this.fullAdd(id, ppm, mappings, natInterfaceName);
          this.counts.full++;
        } catch (e) {
          await closeOpened();
          throw e;
        }
      }
      // after the rules are in: stale UDP conntrack entries would bypass the new DNAT
      if (this.deps.clearConntrack) {
        for (const pm of mappings) {
          if (pm.protocol !== "UDP") continue;
          await this.deps
            .clearConntrack(pm.hostPort, this.ipv6)
            .catch((e: unknown) =>
              this.log.warn("failed to clear udp conntrack entries", { port: pm.hostPort, err: e }),
            );
        }
      }
    });
  }

  private async saveNat(): Promise<SavedTable> {
    try {
      return await this.deps.iptables.save("nat");
    } catch (e) {
      throw new Error(`failed to execute iptables-save: ${(e as Error).message}`, { cause: e });
    }
  }

  private async restore(payload: string, pending?: PendingRestore): Promise<void> {
    try {
      await (pending ? pending.commit(payload) : this.deps.iptables.restore(payload));
    } catch (e) {
      throw new Error(`failed to execute iptables-restore: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Learns the KUBE-HP-* chains from a save's chain lines. */
  private learn(chains: Iterable<string>): Set<string> {
    this.known = new Set([...chains].filter((c) => c.startsWith(KUBE_HOSTPORT_CHAIN_PREFIX)));
    return this.known;
  }

  /** One restore: the pod's chains (created or flushed) and rules, a jump for each new chain. */
  private async fastAdd(
    id: string,
    ppm: PodPortMapping,
    mappings: readonly PortMapping[],
    known: Set<string>,
    pending?: PendingRestore,
  ): Promise<void> {
    const chainLines: string[] = [];
    const rules: string[] = [];
    for (const pm of mappings) {
      const r = hostportRules(id, ppm, pm);
      chainLines.push(r.chainLine);
      rules.push(...(known.has(r.chain) ? r.rules.slice(1) : r.rules));
    }
    await this.restore(restoreInput("nat", [...chainLines, ...rules]), pending);
    for (const pm of mappings) known.add(hostportChainName(id, pm));
  }

  /** The kubelet's way: save, ensure the chains and jumps, rewrite KUBE-HOSTPORTS with the new jumps first. */
  private async fullAdd(
    id: string,
    ppm: PodPortMapping,
    mappings: readonly PortMapping[],
    natInterfaceName: string,
  ): Promise<void> {
    let save = await this.saveNat();
    if (!hostportChainsPresent(save, natInterfaceName)) {
      await ensureKubeHostportChains(this.deps.iptables, natInterfaceName);
      save = await this.saveNat();
    }
    const existing = existingHostportRules(save);
    const chainLines: string[] = [];
    const newRules: string[] = [];
    const newChains: string[] = [];
    for (const pm of mappings) {
      const r = hostportRules(id, ppm, pm);
      newChains.push(r.chain);
      chainLines.push(r.chainLine);
      newRules.push(...r.rules);
    }
    for (const c of newChains) existing.chains.delete(c);
    const payload = restoreInput("nat", [
      ...chainLines,
      ...existing.chains.values(),
      ...newRules,
      ...filterRules(existing.rules, newChains),
    ]);
    await this.restore(payload);
    this.learn([...existing.chains.keys(), ...newChains]);
    this.readyFor = natInterfaceName;
  }

  /** Works without the pod IP: chains are named from the sandbox ID and the mappings. */
  async remove(id: string, ppm: PodPortMapping | undefined): Promise<void> {
    if (!ppm || ppm.hostNetwork) return;
    const mappings = gatherHostportMappings(ppm, this.ipv6);
    if (mappings.length === 0) return;
    await this.locked(async () => {
      let done = false;
      if (this.known) {
        try {
          await this.fastRemove(id, ppm, mappings, this.known);
          this.counts.fast++;
          done = true;
        } catch (e) {
          this.log.debug("one-restore hostport removal failed; redoing it from iptables-save", { err: e });
          this.known = undefined;
        }
      }
      if (!done) {
        await this.fullRemove(id, mappings);
        this.counts.full++;
      }
      await this.closeHostports(mappings);
    });
  }

  /** One restore: flush each of the pod's chains, delete its jump (the exact rule), delete it. */
  private async fastRemove(
    id: string,
    ppm: PodPortMapping,
    mappings: readonly PortMapping[],
    known: Set<string>,
  ): Promise<void> {
    const present = mappings.map((pm) => ({ pm, chain: hostportChainName(id, pm) })).filter((x) => known.has(x.chain));
    if (present.length === 0) return;
    const payload = restoreInput("nat", [
      ...present.map((x) => chainLine(x.chain)),
      ...present.map((x) => hostportRules(id, ppm, x.pm).rules[0]!.replace(/^-I /, "-D ")),
      ...present.map((x) => `-X ${x.chain}`),
    ]);
    await this.restore(payload);
    for (const x of present) known.delete(x.chain);
  }

  /** The kubelet's way: save, rewrite the hostport chains without the pod's, delete them. */
  private async fullRemove(id: string, mappings: readonly PortMapping[]): Promise<void> {
    const existing = existingHostportRules(await this.saveNat());
    const toRemove = mappings.map((pm) => hostportChainName(id, pm));
    const present = toRemove.filter((c) => existing.chains.has(c));
    if (present.length > 0 || existing.rules.some((r) => toRemove.some((c) => r.includes(c)))) {
      const payload = restoreInput("nat", [
        ...existing.chains.values(),
        ...filterRules(existing.rules, toRemove),
        ...present.map((c) => `-X ${c}`),
      ]);
      await this.restore(payload);
    }
    this.learn([...existing.chains.keys()].filter((c) => !present.includes(c)));
  }

  private async closeHostports(mappings: readonly PortMapping[]): Promise<void> {
    const errs: string[] = [];
    for (const pm of mappings) {
      const k = this.keyOf(pm);
      if (!k) continue;
      const s = this.held.get(hpKey(k));
      if (!s) continue;
      try {
        await s.close();
        this.held.delete(hpKey(k));
      } catch (e) {
        errs.push(`failed to close host port ${pm.hostIP}:${pm.hostPort}/${pm.protocol}: ${(e as Error).message}`);
      }
    }
    if (errs.length) throw new Error(errs.join("; "));
  }

  /**
   * Removes KUBE-HP-* chains (and their KUBE-HOSTPORTS jumps) that belong to none of `keep`
   * (chain names of live pods); returns the removed chain names.
   */
  async removeStaleChains(keep: ReadonlySet<string>): Promise<string[]> {
    return this.locked(async () => {
      const existing = existingHostportRules(await this.deps.iptables.save("nat"));
      const stale = [...existing.chains.keys()].filter((c) => c.startsWith(KUBE_HOSTPORT_CHAIN_PREFIX) && !keep.has(c));
      this.learn(existing.chains.keys());
      if (stale.length === 0) return [];
      const payload = restoreInput("nat", [
        ...existing.chains.values(),
        ...filterRules(existing.rules, stale),
        ...stale.map((c) => `-X ${c}`),
      ]);
      await this.deps.iptables.restore(payload);
      this.learn([...existing.chains.keys()].filter((c) => !stale.includes(c)));
      return stale;
    });
  }

  /**
   * What is missing of a pod's hostports in this family (one sentence each; [] = all there): each
   * port held open, its KUBE-HP-* chain, the KUBE-HOSTPORTS jump to it, its DNAT to the pod's address.
   */
  async verify(id: string, ppm: PodPortMapping): Promise<string[]> {
    if (ppm.hostNetwork) return [];
    const mappings = gatherHostportMappings(ppm, this.ipv6);
    if (mappings.length === 0) return [];
    const table = await this.locked(() => this.saveNat());
    const problems: string[] = [];
    for (const pm of mappings) {
      const what = `hostPort ${pm.hostPort}/${pm.protocol}${pm.hostIP ? ` on ${pm.hostIP}` : ""}`;
      const k = this.keyOf(pm);
      if (k && !this.held.has(hpKey(k))) problems.push(`${what} is not held open`);
      const chain = hostportChainName(id, pm);
      if (!table.chains.has(chain)) {
        problems.push(`${what}: chain ${chain} is missing from the ${this.ipv6 ? "ip6tables" : "iptables"} nat table`);
        continue;
      }
      const rulesOf = (c: string) => table.rules.filter((r) => r.chain === c).map((r) => splitRule(r.spec));
      if (!rulesOf(KUBE_HOSTPORTS_CHAIN).some((a) => a.at(-2) === "-j" && a.at(-1) === chain))
        problems.push(`${what}: ${KUBE_HOSTPORTS_CHAIN} does not jump to ${chain}`);
      const dest = joinHostPort(ppm.ip, pm.containerPort);
      // iptables-save prints "--to-destination X"; a restore payload (and the fake) may say "--to-destination=X"
      const toDest = (a: string[]) =>
        a.some((w, i) => w === `--to-destination=${dest}` || (w === "--to-destination" && a[i + 1] === dest));
      const dnat = rulesOf(chain).some((a) => a.includes("DNAT") && toDest(a));
      if (!dnat) problems.push(`${what}: chain ${chain} has no DNAT to ${dest}`);
    }
    return problems;
  }

  /** Closes every held port (daemon shutdown: the rules stay, the next start re-takes the ports). */
  async closeAll(): Promise<void> {
    for (const s of this.held.values()) await s.close().catch(() => {});
    this.held.clear();
  }
}

/** The port mappings a PodPortMapping needs from the API types. */
export const toProtocol = (p: string): Protocol =>
  p.toUpperCase() === "UDP" ? "UDP" : p.toUpperCase() === "SCTP" ? "SCTP" : "TCP";
