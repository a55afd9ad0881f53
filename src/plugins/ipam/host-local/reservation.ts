// One reservation of host-local's store: a file named by the canonical text of its IP, holding the
// owner's container ID and interface name (as Go's host-local writes them), and how to read one.
// The store (store.ts) and its in-memory view (store-cache.ts) share it.
import { type IP, formatIP, parseIPExact } from "../../../ip/index.js";

/** Between the container ID and the interface name in a reservation file. */
export const LINE_BREAK = "\r\n";

/** One reservation file. `ifname` is undefined for pre-v0.8.0 files that hold only the ID. */
export interface Reservation {
  readonly ip: IP;
  /** The file name (Go's text of the IP). */
  readonly name: string;
  readonly containerID: string;
  readonly ifname: string | undefined;
}

/** The content Go writes and matches: trimmed container ID, CRLF, ifname. */
export const reservationKey = (id: string, ifname: string): string => id.trim() + LINE_BREAK + ifname;

/** A reservation file's owner, from its trimmed content. */
export function parseReservation(content: string): { containerID: string; ifname: string | undefined } {
  const t = content.trim();
  const i = t.indexOf(LINE_BREAK);
  return i < 0
    ? { containerID: t, ifname: undefined }
    : { containerID: t.slice(0, i), ifname: t.slice(i + LINE_BREAK.length) };
}

/** The IP of a file name Go would treat as a reservation (the canonical text of an IP), else undefined. */
export function reservationIP(name: string): IP | undefined {
  try {
    const ip = parseIPExact(name);
    return formatIP(ip) === name ? ip : undefined;
  } catch {
    return undefined;
  }
}

/** Reservations held by (id, ifname), counting pre-v0.8.0 files that hold only the ID. */
export function ownedBy(reservations: readonly Reservation[], id: string, ifname: string): Reservation[] {
  const cid = id.trim();
  return reservations.filter((r) => r.containerID === cid && (r.ifname === undefined || r.ifname === ifname));
}
