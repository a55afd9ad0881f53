// A range set: disjoint ranges of one family that together form the pool for one address.
// Go's allocator.RangeSet.
import { type Family, type IP, canonicalIP, ipEqual, rangeSize } from "../../../ip/index.js";
import {
  type Range,
  type RangeInput,
  RangeConfigError,
  canonicalizeRange,
  formatRange,
  rangeContains,
  rangesOverlap,
} from "./range.js";

export type RangeSet = readonly Range[];

/**
 * Canonicalises every range and checks the set: not empty, one family, no overlaps.
 * `where(i)` names range i in messages (e.g. "ipam.ranges[0][1]"). Throws RangeConfigError.
 */
export function canonicalizeRangeSet(
  raws: readonly RangeInput[],
  where: (i: number) => string = (i) => `range ${i}`,
): RangeSet {
  if (raws.length === 0) throw new RangeConfigError("empty range set");
  const set: Range[] = [];
  for (const [i, raw] of raws.entries()) {
    let r: Range;
    try {
      r = canonicalizeRange(raw);
    } catch (e) {
      if (e instanceof RangeConfigError) throw new RangeConfigError(`${where(i)}: ${e.message}`);
      throw e;
    }
    if (set.length > 0 && set[0]!.rangeStart.family !== r.rangeStart.family)
      throw new RangeConfigError("mixed address families");
    set.push(r);
  }
  for (let i = 0; i < set.length - 1; i++) {
    for (let j = i + 1; j < set.length; j++) {
      if (rangesOverlap(set[i]!, set[j]!)) {
        throw new RangeConfigError(`subnets ${formatRange(set[i]!)} and ${formatRange(set[j]!)} overlap`);
      }
    }
  }
  return set;
}

export const rangeSetFamily = (set: RangeSet): Family => set[0]!.rangeStart.family;

/** The range that holds `ip` (IPv4-mapped counts as IPv4), or undefined. */
export function rangeFor(set: RangeSet, ip: IP): Range | undefined {
  const x = canonicalIP(ip);
  return set.find((r) => rangeContains(r, x));
}

export const rangeSetContains = (set: RangeSet, ip: IP): boolean => rangeFor(set, ip) !== undefined;

/** True when any range of one set overlaps any range of the other. */
export const rangeSetsOverlap = (a: RangeSet, b: RangeSet): boolean =>
  a.some((r) => b.some((r1) => rangesOverlap(r, r1)));

/** "10.1.0.2-10.1.0.3,10.2.0.2-10.2.0.254", as Go's RangeSet.String. */
export const formatRangeSet = (set: RangeSet): string => set.map(formatRange).join(",");

/** How many addresses the set can hand out: every range's start..end minus its gateway. */
export function rangeSetCapacity(set: RangeSet): bigint {
  let n = 0n;
  for (const r of set) n += rangeSize(r.rangeStart, r.rangeEnd) - (rangeContains(r, r.gateway) ? 1n : 0n);
  return n;
}

/** True when `ip` can be handed out from the set: inside a range and not that range's gateway. */
export function isAllocatable(set: RangeSet, ip: IP): boolean {
  const r = rangeFor(set, ip);
  return r !== undefined && !ipEqual(r.gateway, ip);
}
