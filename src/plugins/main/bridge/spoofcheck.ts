// MAC spoof check (Go's pkg/link SpoofChecker): in the nftables `bridge nat` table, frames entering
// from the host veth must carry the container's MAC, or they are dropped. Same table, chains and
// comments as Go, so either can tear down the other's rules. Setup is one `nft -f` transaction
// (declaring then flushing the per-attachment chains in one batch works, so Go's two are not needed).
import { CniCode, CniError } from "../../../cni/index.js";
import { ExecError, type Exec } from "../../../kernel/exec.js";

const TABLE = "bridge nat";
const BASE_CHAIN = "PREROUTING";

export const spoofRefID = (containerID: string, ifName: string): string => `${containerID}-${ifName}`;
export const spoofComment = (refID: string): string => `macspoofchk-${refID}`;
export const ifaceChain = (refID: string): string => `cni-br-iface-${refID}`;
export const macChain = (refID: string): string => `${ifaceChain(refID)}-mac`;

const q = (s: string) => `"${s}"`;

export function renderSpoofCheckSetup(hostVeth: string, mac: string, refID: string): string {
  const c = `comment ${q(spoofComment(refID))}`;
  // Chain names go unquoted (nft takes quoted strings only as values); they start with "cni-".
  const ic = ifaceChain(refID);
  const mc = macChain(refID);
  return [
    `add table ${TABLE}`,
    `add chain ${TABLE} ${BASE_CHAIN} { type filter hook prerouting priority -300 ; policy accept ; }`,
    `add chain ${TABLE} ${ic}`,
    `add chain ${TABLE} ${mc}`,
    `flush chain ${TABLE} ${ic}`,
    `flush chain ${TABLE} ${mc}`,
    `add rule ${TABLE} ${BASE_CHAIN} iifname ${q(hostVeth)} jump ${ic} ${c}`,
    `add rule ${TABLE} ${ic} jump ${mc} ${c}`,
    `add rule ${TABLE} ${mc} ether saddr ${mac} return ${c}`,
    `add rule ${TABLE} ${mc} drop ${c}`,
    "",
  ].join("\n");
}

interface NftTableListing {
  readonly chains: ReadonlySet<string>;
  /** PREROUTING rules: handle and comment. */
  readonly baseRules: ReadonlyArray<{ handle: number; comment?: string }>;
}

export function parseBridgeNat(json: string): NftTableListing {
  const doc = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
  const chains = new Set<string>();
  const baseRules: Array<{ handle: number; comment?: string }> = [];
  for (const item of doc.nftables ?? []) {
    const ch = item["chain"] as { name?: string } | undefined;
    if (ch?.name) chains.add(ch.name);
    const r = item["rule"] as { chain?: string; handle?: number; comment?: string } | undefined;
    if (r?.chain === BASE_CHAIN && typeof r.handle === "number") {
      baseRules.push({ handle: r.handle, ...(r.comment !== undefined ? { comment: r.comment } : {}) });
    }
  }
  return { chains, baseRules };
}

/** Deletes the PREROUTING jump(s) tagged with this attachment's comment, then its two chains; undefined when nothing is there. */
export function renderSpoofCheckTeardown(cur: NftTableListing, refID: string): string | undefined {
  const lines: string[] = [];
  for (const r of cur.baseRules)
    if (r.comment === spoofComment(refID)) lines.push(`delete rule ${TABLE} ${BASE_CHAIN} handle ${r.handle}`);
  for (const ch of [ifaceChain(refID), macChain(refID)])
    if (cur.chains.has(ch)) lines.push(`delete chain ${TABLE} ${ch}`);
  return lines.length ? `${lines.join("\n")}\n` : undefined;
}

export async function setupSpoofCheck(exec: Exec, hostVeth: string, mac: string, refID: string): Promise<void> {
  try {
    await exec.run(["nft", "-f", "-"], { stdin: renderSpoofCheckSetup(hostVeth, mac, refID), timeoutMs: 55_000 });
  } catch (e) {
    throw new CniError(CniCode.Internal, `failed to setup spoof-check: ${(e as Error).message}`, { cause: e });
  }
}

export async function teardownSpoofCheck(exec: Exec, refID: string): Promise<void> {
  let listing: string;
  try {
    listing = await exec.run(["nft", "-j", "list", "table", "bridge", "nat"], { timeoutMs: 55_000 });
  } catch (e) {
    if (e instanceof ExecError && e.exitCode !== null) return; // no bridge nat table: nothing to remove
    throw new CniError(CniCode.Internal, `failed to teardown spoof-check: ${(e as Error).message}`, { cause: e });
  }
  const input = renderSpoofCheckTeardown(parseBridgeNat(listing), refID);
  if (!input) return;
  try {
    await exec.run(["nft", "-f", "-"], { stdin: input, timeoutMs: 55_000 });
  } catch (e) {
    throw new CniError(CniCode.Internal, `failed to teardown spoof-check: ${(e as Error).message}`, { cause: e });
  }
}
