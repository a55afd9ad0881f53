// The kubenet bridge MTU rule (findMinMTU): the smallest MTU among interfaces that are up and are
// neither loopback nor point-to-point; none, or a minimum outside 576..999998, is an error and the
// caller falls back to 1460. --network-plugin-mtu (non-zero) overrides it all.

/** IFF_* flags (linux/if.h). */
export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
export const IFF_POINTOPOINT = 0x10;

export const FALLBACK_MTU = 1460;

export interface MtuCandidate {
  readonly name: string;
  readonly mtu: number;
  readonly flags: number;
}

export type MtuChoice =
  | { readonly mtu: number; readonly source: "flag" }
  | { readonly mtu: number; readonly source: "interface"; readonly from: string }
  | { readonly mtu: number; readonly source: "fallback"; readonly reason: string };

/** findMinMTU: the first interface with the smallest MTU among the eligible ones. */
export function findMinMtu(links: readonly MtuCandidate[], bridgeName = "cbr0"): { name: string; mtu: number } | Error {
  let best: MtuCandidate | undefined;
  for (const l of links) {
    if ((l.flags & IFF_UP) === 0 || (l.flags & (IFF_LOOPBACK | IFF_POINTOPOINT)) !== 0) continue;
    if (!best || l.mtu < best.mtu) best = l;
  }
  if (!best || best.mtu >= 999999 || best.mtu < 576) return new Error(`no suitable interface: ${bridgeName}`);
  return { name: best.name, mtu: best.mtu };
}

/** The MTU kubenet uses: the flag when non-zero, else the detected one, else 1460. */
export function chooseMtu(flagMtu: number, links: readonly MtuCandidate[]): MtuChoice {
  if (flagMtu !== 0) return { mtu: flagMtu, source: "flag" };
  const m = findMinMtu(links);
  if (m instanceof Error) return { mtu: FALLBACK_MTU, source: "fallback", reason: m.message };
  return { mtu: m.mtu, source: "interface", from: m.name };
}
