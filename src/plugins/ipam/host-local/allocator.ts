// Allocation from one range set: Go's allocator.IPAllocator.
//
// Round robin: start after `last_reserved_ip.<N>` when it lies in the set, otherwise at the first
// range's rangeStart; after a range's rangeEnd go on at the next range's rangeStart (wrapping);
// skip every range's gateway; stop after one full cycle. So a container that is deleted and
// re-created gets a different address, and an address is not reused until the pool has cycled.
// The caller holds the store lock for the whole operation.
import { CniCode, CniError } from "../../../cni/index.js";
import { type IP, canonicalIP, formatIP, ipEqual, nextIP } from "../../../ip/index.js";
import { type Range, rangeContains } from "./range.js";
import { type RangeSet, formatRangeSet, rangeFor, rangeSetContains } from "./range-set.js";
import type { Reservation } from "./reservation.js";
import type { Store } from "./store.js";

/** An address handed out and the range it came from (for its prefix length and gateway). */
export interface Allocation {
  readonly ip: IP;
  readonly range: Range;
}

/**
 * The candidates in allocation order, each at most once (Go's RangeIter). `last` is the last
 * reserved IP; the walk starts right after it when it lies in the set.
 */
export function* rangeIter(set: RangeSet, last: IP | undefined): Generator<Allocation, void, undefined> {
  let idx = 0;
  let cur: IP | undefined;
  if (last !== undefined && rangeSetContains(set, last)) {
    const x = canonicalIP(last);
    idx = set.findIndex((r) => rangeContains(r, x));
    cur = x;
  }
  let start: IP | undefined;
  for (;;) {
    let r = set[idx]!;
    if (cur === undefined) {
      cur = r.rangeStart;
    } else if (ipEqual(cur, r.rangeEnd)) {
      idx = (idx + 1) % set.length;
      r = set[idx]!;
      cur = r.rangeStart;
    } else {
      cur = nextIP(cur);
    }
    if (start === undefined) start = cur;
    else if (ipEqual(cur, start)) return; // one full cycle
    if (!ipEqual(cur, r.gateway)) yield { ip: cur, range: r };
  }
}

export class IPAllocator {
  readonly rangeset: RangeSet;
  readonly #store: Store;
  /** Index of the range set; names `last_reserved_ip.<rangeID>`. */
  readonly rangeID: string;

  constructor(rangeset: RangeSet, store: Store, id: number) {
    this.rangeset = rangeset;
    this.#store = store;
    this.rangeID = String(id);
  }

  /**
   * Reserves an address for (id, ifname): `requestedIP` when given, else the next free one.
   * `reservations` is the store's content read under the same lock (read here when absent); it
   * only saves work: the exclusive create decides. Errors carry Go's messages.
   */
  async get(id: string, ifname: string, requestedIP?: IP, reservations?: readonly Reservation[]): Promise<Allocation> {
    const setText = formatRangeSet(this.rangeset);
    if (requestedIP !== undefined) {
      const ip = canonicalIP(requestedIP);
      const r = rangeFor(this.rangeset, ip);
      if (!r) throw new CniError(CniCode.InvalidNetworkConfig, `${formatIP(ip)} not in range set ${setText}`);
      if (ipEqual(ip, r.gateway))
        throw new CniError(CniCode.InvalidNetworkConfig, `requested ip ${formatIP(ip)} is subnet's gateway`);
      if (!(await this.#store.reserve(id, ifname, ip, this.rangeID))) {
        throw new CniError(
          CniCode.Internal,
          `requested IP address ${formatIP(ip)} is not available in range set ${setText}`,
        );
      }
      return { ip, range: r };
    }

    // A second ADD for the same attachment must not take a second address (SPEC; plugins#327).
    const existing = reservations ?? (await this.#store.list());
    for (const ip of await this.#store.getByID(id, ifname, existing)) {
      if (rangeSetContains(this.rangeset, ip)) {
        throw new CniError(
          CniCode.Internal,
          `${formatIP(ip)} has been allocated to ${id}, duplicate allocation is not allowed`,
        );
      }
    }

    // Skip names already on disk without trying to create them; the create still decides.
    const taken = new Set(existing.map((r) => r.name));
    for (const cand of rangeIter(this.rangeset, await this.#store.lastReservedIP(this.rangeID))) {
      if (taken.has(formatIP(cand.ip))) continue;
      if (await this.#store.reserve(id, ifname, cand.ip, this.rangeID)) return cand;
    }
    // Transient from the pod's point of view: addresses come back as pods are deleted or GC runs.
    throw new CniError(CniCode.TryAgainLater, `no IP addresses available in range set: ${setText}`);
  }
}
