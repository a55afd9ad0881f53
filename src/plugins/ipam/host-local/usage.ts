// How full each range set of a host-local network is: the reservations of the store that each set
// can hand out (its gateway excluded, as the allocator counts), against the set's capacity. Pure.
import { formatCidr } from "../../../ip/index.js";
import { formatRangeSet, isAllocatable, rangeSetCapacity, type RangeSet } from "./range-set.js";
import type { Reservation } from "./reservation.js";

export interface RangeSetUsage {
  /** Go's RangeSet.String: "10.1.0.2-10.1.0.254". */
  readonly rangeSet: string;
  readonly subnets: readonly string[];
  readonly used: bigint;
  readonly capacity: bigint;
}

export function rangeSetUsage(set: RangeSet, reservations: readonly Pick<Reservation, "ip">[]): RangeSetUsage {
  const used = BigInt(reservations.filter((r) => isAllocatable(set, r.ip)).length);
  return {
    rangeSet: formatRangeSet(set),
    subnets: set.map((r) => formatCidr(r.subnet)),
    used,
    capacity: rangeSetCapacity(set),
  };
}

/** The index of the set `ip` was handed out from, or undefined (a lease outside every set: the config changed). */
export function rangeSetIndexOf(sets: readonly RangeSet[], r: Pick<Reservation, "ip">): number | undefined {
  const i = sets.findIndex((s) => isAllocatable(s, r.ip));
  return i < 0 ? undefined : i;
}

/** Reservations sorted by address (IPv4 before IPv6), for listing. */
export function sortReservations<R extends Pick<Reservation, "ip">>(rs: readonly R[]): R[] {
  return [...rs].sort(
    (a, b) => a.ip.family - b.ip.family || (a.ip.value < b.ip.value ? -1 : a.ip.value > b.ip.value ? 1 : 0),
  );
}
