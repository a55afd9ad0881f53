// IP masquerade for a container's addresses (Go's pkg/ip ipmasq_*_linux.go), byte-compatible with
// the Go plugins so that either can remove what the other made:
//
// - iptables backend: nat chain `CNI-<sha512(network+containerID)[:24]>`, comment
//   `name: "<network>" id: "<containerID>"`, a POSTROUTING jump per address. The common case is
//   one blind `iptables-restore --noflush` per family and call, no listing: ADD creates the chain
//   with `-N` (which fails, and so aborts the whole transaction, when the chain is already there),
//   DEL deletes the jumps of the known addresses, then the chain (which fails when anything else
//   still jumps to it or a rule is missing). Only when that transaction fails does podnet fall
//   back to the slow path: `iptables-save`, then a transaction computed against it, so ADD is
//   append-unique like Go's and DEL removes every jump to the chain without needing the
//   addresses (which is what lets DEL clean up after the netns is gone, plugins#810, and remove
//   rules that an older Go plugin made).
// - nftables backend: table `inet cni_plugins_masquerade`, one rule per address in `masq_checks`
//   whose comment starts with `<netHash>-<instHash>`; one `nft -f -` transaction.
//
// Rendering is pure (tested against golden text); `setupIPMasq`/`teardownIPMasq` run iptables
// (src/kernel/iptables.ts) and nft through the injected Exec. Chain names and comments are Go's
// pkg/utils (../../utils.ts).
import { CniCode, CniError } from "../../../cni/index.js";
import { ExecError, isNotStarted, type Exec } from "../../../kernel/exec.js";
import {
  IptablesError,
  chainLine,
  createIPTables,
  quoteString,
  restoreInput,
  ruleLine,
  type IPTables,
  type SavedTable,
} from "../../../kernel/iptables.js";
import { bitLen, formatIPExact, tryParseCidr } from "../../../ip/index.js";
import { formatChainName, formatComment, mustFormatHashWithPrefix } from "../../utils.js";

export interface MasqTarget {
  readonly network: string;
  readonly ifName: string;
  readonly containerID: string;
}

// ---- iptables ---------------------------------------------------------------------------------

export type Family = 4 | 6;

const MULTICAST: Record<Family, string> = { 4: "224.0.0.0/4", 6: "ff00::/8" };

/** Splits "10.200.0.5/24" into the family, the host address and the masked network, as iptables prints them (inet_ntop: formatIPExact). */
export function addrParts(cidr: string): { family: Family; host: string; network: string } {
  const c = tryParseCidr(cidr);
  if (!c) throw new CniError(CniCode.Internal, `ipmasq: invalid address ${JSON.stringify(cidr)}`);
  return {
    family: c.ip.family,
    host: `${formatIPExact(c.ip)}/${bitLen(c.ip.family)}`,
    network: `${formatIPExact(c.network)}/${c.prefix}`,
  };
}

/** The `-A` lines an attachment needs in one family, in iptables-save's own spelling. */
export function iptablesRules(family: Family, addrs: readonly string[], chain: string, comment: string): string[] {
  const k = `-m comment --comment ${quoteString(comment)}`;
  const rules: string[] = [];
  const add = (r: string) => {
    if (!rules.includes(r)) rules.push(r);
  };
  for (const a of addrs) {
    const p = addrParts(a);
    if (p.family !== family) continue;
    // Packets to the container's own network are left alone; multicast is never masqueraded.
    add(`-A ${chain} -d ${p.network} ${k} -j ACCEPT`);
    add(`-A ${chain} ! -d ${MULTICAST[family]} ${k} -j MASQUERADE`);
    add(`-A POSTROUTING -s ${p.host} ${k} -j ${chain}`);
  }
  return rules;
}

/** The iptables-restore input that adds what is missing (append-unique), or undefined when nothing is. */
export function renderIptablesSetup(current: SavedTable, rules: readonly string[], chain: string): string | undefined {
  const have = new Set(current.rules.map(ruleLine));
  const missing = rules.filter((r) => !have.has(r));
  if (missing.length === 0) return undefined;
  // Declaring a chain that exists would flush it under --noflush: declare it only when new.
  const decl = current.chains.has(chain) ? [] : [chainLine(chain)];
  // Chain rules first, so that the jump never points at an empty chain.
  missing.sort((a, b) => Number(a.startsWith("-A POSTROUTING ")) - Number(b.startsWith("-A POSTROUTING ")));
  return restoreInput("nat", [...decl, ...missing]);
}

/** The iptables-restore input that removes every jump to `chain` and the chain, or undefined when there is none. */
export function renderIptablesTeardown(current: SavedTable, chain: string): string | undefined {
  const jumps = current.rules
    .filter((r) => r.chain !== chain)
    .map(ruleLine)
    .filter((r) => r.endsWith(` -j ${chain}`));
  const hasChain = current.chains.has(chain);
  if (jumps.length === 0 && !hasChain) return undefined;
  const lines = jumps.map((r) => `-D ${r.slice(3)}`);
  if (hasChain) lines.push(`-F ${chain}`, `-X ${chain}`);
  return restoreInput("nat", lines);
}

/**
 * The fast ADD: one transaction without a listing. `-N` fails when the chain exists (a retried
 * ADD, or another version made it), which aborts the whole transaction; the caller then takes the
 * slow path. A chain that does not exist has no jump to it, so the jumps cannot be duplicated.
 */
export function renderIptablesFastSetup(rules: readonly string[], chain: string): string {
  const isJump = (r: string) => r.startsWith("-A POSTROUTING ");
  return restoreInput("nat", [`-N ${chain}`, ...rules.filter((r) => !isJump(r)), ...rules.filter(isJump)]);
}

/**
 * The fast DEL: the jumps from the attachment's own addresses, then the chain, in one transaction
 * without a listing; undefined when `addrs` has no address of `family`. Any part that is not
 * there (a jump of another form, an already removed chain) fails the whole transaction, and the
 * caller takes the slow path.
 */
export function renderIptablesFastTeardown(
  family: Family,
  addrs: readonly string[],
  chain: string,
  comment: string,
): string | undefined {
  const jumps = iptablesRules(family, addrs, chain, comment).filter((r) => r.startsWith("-A POSTROUTING "));
  if (jumps.length === 0) return undefined;
  return restoreInput("nat", [...jumps.map((r) => `-D ${r.slice(3)}`), `-F ${chain}`, `-X ${chain}`]);
}

/** The tool (iptables or nft) is not installed (or cannot be started). */
export function isToolMissing(e: unknown): boolean {
  return isNotStarted(e) || (e instanceof IptablesError && e.notInstalled);
}

/**
 * Runs `fast` (one restore); when it fails for any reason but a missing tool, runs `slow` (a
 * listing, then a restore computed against it), whose errors are the ones reported.
 */
async function fastOrSlow(fast: string | undefined, ipt: IPTables, slow: () => Promise<void>): Promise<void> {
  if (fast !== undefined) {
    try {
      await ipt.restore(fast);
      return;
    } catch (e) {
      if (isToolMissing(e)) throw e;
    }
  }
  await slow();
}

/** ADD in one family: the fast transaction, or append-unique against a listing. */
export async function setupIPMasqFamily(
  exec: Exec,
  family: Family,
  addrs: readonly string[],
  t: MasqTarget,
  opts: { fast?: boolean } = {},
): Promise<void> {
  const chain = formatChainName(t.network, t.containerID);
  const rules = iptablesRules(family, addrs, chain, formatComment(t.network, t.containerID));
  if (rules.length === 0) return;
  const ipt = createIPTables(exec, family === 6);
  await fastOrSlow(opts.fast === false ? undefined : renderIptablesFastSetup(rules, chain), ipt, async () => {
    const input = renderIptablesSetup(await ipt.save("nat"), rules, chain);
    if (input) await ipt.restore(input);
  });
}

/** DEL in one family: the fast transaction when the addresses are known, or every jump to the chain found in a listing. */
export async function teardownIPMasqFamily(
  exec: Exec,
  family: Family,
  t: MasqTarget,
  addrs: readonly string[] = [],
  opts: { fast?: boolean } = {},
): Promise<void> {
  const chain = formatChainName(t.network, t.containerID);
  const fast =
    opts.fast === false
      ? undefined
      : renderIptablesFastTeardown(family, addrs, chain, formatComment(t.network, t.containerID));
  const ipt = createIPTables(exec, family === 6);
  await fastOrSlow(fast, ipt, async () => {
    const input = renderIptablesTeardown(await ipt.save("nat"), chain);
    if (input) await ipt.restore(input);
  });
}

/** Only the families the addresses have: a pod without IPv6 costs no ip6tables. */
export const familiesOf = (addrs: readonly string[]): Family[] =>
  ([4, 6] as const).filter((f) => addrs.some((a) => addrParts(a).family === f));

async function setupIPMasqIPTables(exec: Exec, addrs: readonly string[], t: MasqTarget): Promise<void> {
  await allSettledOrThrow(familiesOf(addrs).map((family) => setupIPMasqFamily(exec, family, addrs, t)));
}

async function teardownIPMasqIPTables(
  exec: Exec,
  t: MasqTarget,
  families: readonly Family[],
  addrs: readonly string[],
): Promise<void> {
  await allSettledOrThrow(families.map((family) => teardownIPMasqFamily(exec, family, t, addrs)));
}

/** Waits for every job (none is left running), then throws the first error. */
async function allSettledOrThrow(jobs: ReadonlyArray<Promise<void>>): Promise<void> {
  const res = await Promise.allSettled(jobs);
  for (const r of res) if (r.status === "rejected") throw r.reason;
}

// ---- nftables ---------------------------------------------------------------------------------

export const NFT_MASQ_TABLE = "cni_plugins_masquerade";
export const NFT_MASQ_CHAIN = "masq_checks";
/** knftables.CommentLengthMax */
const NFT_COMMENT_MAX = 128;

export const hashForNetwork = (network: string): string => mustFormatHashWithPrefix(16, "", network);

export const hashForInstance = (t: MasqTarget): string =>
  `${hashForNetwork(t.network)}-${mustFormatHashWithPrefix(16, "", `${t.ifName}:${t.containerID}`)}`;

export function commentForInstance(t: MasqTarget): string {
  const strip = (s: string) => s.replaceAll('"', "");
  const c = `${hashForInstance(t)}, net: ${strip(t.network)}, if: ${strip(t.ifName)}, id: ${strip(t.containerID)}`;
  return Buffer.byteLength(c) > NFT_COMMENT_MAX ? Buffer.from(c).subarray(0, NFT_COMMENT_MAX).toString() : c;
}

/** One `nft -f` transaction: ensure table and chains, replace this instance's rules. */
export function renderNftSetup(addrs: readonly string[], t: MasqTarget, staleHandles: readonly number[]): string {
  const tb = `inet ${NFT_MASQ_TABLE}`;
  const lines = [
    `add table ${tb} { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
    `add chain ${tb} ${NFT_MASQ_CHAIN} { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
    `add chain ${tb} postrouting { type nat hook postrouting priority srcnat ; }`,
    `flush chain ${tb} postrouting`,
    `add rule ${tb} postrouting ip daddr == 224.0.0.0/4 return`,
    `add rule ${tb} postrouting ip6 daddr == ff00::/8 return`,
    `add rule ${tb} postrouting goto ${NFT_MASQ_CHAIN}`,
    ...staleHandles.map((h) => `delete rule ${tb} ${NFT_MASQ_CHAIN} handle ${h}`),
  ];
  const comment = commentForInstance(t);
  for (const a of addrs) {
    const p = addrParts(a);
    const ip = p.family === 4 ? "ip" : "ip6";
    const host = p.host.split("/")[0]!;
    lines.push(
      `add rule ${tb} ${NFT_MASQ_CHAIN} ${ip} saddr == ${host} ${ip} daddr != ${p.network} masquerade comment "${comment}"`,
    );
  }
  return `${lines.join("\n")}\n`;
}

interface NftRule {
  readonly handle: number;
  readonly comment?: string;
  readonly chain: string;
}

/** Rules of `nft -j list …` output. */
export function parseNftRules(json: string): NftRule[] {
  const doc = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
  const out: NftRule[] = [];
  for (const item of doc.nftables ?? []) {
    const r = item["rule"] as { handle?: number; comment?: string; chain?: string } | undefined;
    if (r && typeof r.handle === "number")
      out.push({ handle: r.handle, chain: r.chain ?? "", ...(r.comment !== undefined ? { comment: r.comment } : {}) });
  }
  return out;
}

/** Handles of the rules in masq_checks whose comment starts with `prefix`; [] when the chain is absent. */
async function findMasqRules(exec: Exec, prefix: string): Promise<number[]> {
  let out: string;
  try {
    out = await exec.run(["nft", "-j", "list", "chain", "inet", NFT_MASQ_TABLE, NFT_MASQ_CHAIN]);
  } catch (e) {
    if (e instanceof ExecError && e.exitCode !== null) return []; // no such table/chain yet
    throw e;
  }
  return parseNftRules(out)
    .filter((r) => r.comment?.startsWith(prefix))
    .map((r) => r.handle);
}

async function setupIPMasqNFTables(exec: Exec, addrs: readonly string[], t: MasqTarget): Promise<void> {
  const stale = await findMasqRules(exec, hashForInstance(t));
  await exec.run(["nft", "-f", "-"], { stdin: renderNftSetup(addrs, t, stale) });
}

async function teardownIPMasqNFTables(
  exec: Exec,
  t: MasqTarget,
  tableExists?: TeardownOptions["nftTableExists"],
): Promise<void> {
  if (tableExists) {
    let there = true;
    try {
      there = await tableExists("inet", NFT_MASQ_TABLE);
    } catch {
      // cannot tell: look with nft
    }
    if (!there) return;
  }
  const rules = await findMasqRules(exec, hashForInstance(t));
  if (rules.length === 0) return;
  const tb = `inet ${NFT_MASQ_TABLE}`;
  await exec.run(["nft", "-f", "-"], {
    stdin: `${rules.map((h) => `delete rule ${tb} ${NFT_MASQ_CHAIN} handle ${h}`).join("\n")}\n`,
  });
}

// ---- entry points -----------------------------------------------------------------------------

export type MasqBackend = "iptables" | "nftables";

/** Masquerades traffic from each address (CIDR with host bits) to anything outside its subnet. */
export async function setupIPMasq(
  exec: Exec,
  backend: MasqBackend | undefined,
  addrs: readonly string[],
  t: MasqTarget,
): Promise<void> {
  let b: MasqBackend = backend ?? "iptables";
  try {
    try {
      if (b === "iptables") await setupIPMasqIPTables(exec, addrs, t);
      else await setupIPMasqNFTables(exec, addrs, t);
    } catch (e) {
      // Go's default: iptables, unless it is not installed (then nftables). Found out by trying,
      // which costs nothing when iptables is there.
      if (backend !== undefined || !isToolMissing(e)) throw e;
      b = "nftables";
      await setupIPMasqNFTables(exec, addrs, t);
    }
  } catch (e) {
    throw new CniError(CniCode.Internal, `failed to set up IP masquerade (${b}): ${(e as Error).message}`, {
      cause: e,
    });
  }
}

export interface TeardownOptions {
  /** Whether an nftables table exists (over netlink): no `nft` process when the masquerade table is not there. */
  readonly nftTableExists?: (family: "inet", table: string) => Promise<boolean>;
}

/**
 * Removes an attachment's masquerade rules from both backends (the pod may have been set up by
 * another version or configuration). Needs no addresses; `families` only narrows which iptables
 * families are looked at (default both); `addrs` (the attachment's addresses, when known) make
 * the iptables part one transaction per family without a listing. A backend's error counts only
 * when its tool is installed.
 */
export async function teardownIPMasq(
  exec: Exec,
  t: MasqTarget,
  families: readonly Family[] = [4, 6],
  addrs: readonly string[] = [],
  opts: TeardownOptions = {},
): Promise<void> {
  const errors: string[] = [];
  await Promise.all([
    teardownIPMasqIPTables(exec, t, families, addrs).catch((e: unknown) => {
      if (!isToolMissing(e)) errors.push(`iptables: ${(e as Error).message}`);
    }),
    teardownIPMasqNFTables(exec, t, opts.nftTableExists).catch((e: unknown) => {
      if (!isToolMissing(e)) errors.push(`nftables: ${(e as Error).message}`);
    }),
  ]);
  if (errors.length) throw new CniError(CniCode.Internal, `failed to tear down IP masquerade: ${errors.join("; ")}`);
}
