// Inclusive address ranges: iteration and size.
import { type IP, compareIP, formatIP } from "./ip.js";

function checkSameFamily(start: IP, end: IP): void {
  if (start.family !== end.family) {
    throw new RangeError(`range ${formatIP(start)}-${formatIP(end)} mixes IPv${start.family} and IPv${end.family}`);
  }
}

/** Number of addresses in start..end (0 when end < start). */
export function rangeSize(start: IP, end: IP): bigint {
  checkSameFamily(start, end);
  return end.value >= start.value ? end.value - start.value + 1n : 0n;
}

/** True when start <= ip <= end (same family). */
export const inRange = (ip: IP, start: IP, end: IP): boolean =>
  ip.family === start.family && compareIP(ip, start) >= 0 && compareIP(ip, end) <= 0;

/** Every address from start to end, both included; nothing when end < start. */
export function* ipRange(start: IP, end: IP): Generator<IP, void, undefined> {
  checkSameFamily(start, end);
  for (let v = start.value; v <= end.value; v++) yield { family: start.family, value: v };
}
