// The performance goals `npm run bench` checks (issue #13), each printed as one line with its goal
// and "met" or "missed", and kept in the JSON results. A section computes its goal from its own
// numbers and calls `goal`; run.mjs prints them all again at the end.
import { median } from "./lib.mjs";

export const goals = [];

/**
 * Records and prints one goal line. `value` against `limit` with `cmp` ("<=" or ">="); `detail`
 * says how it was measured and what it is beside (Go, the other modes).
 */
export function goal(log, { name, value, limit, cmp = "<=", unit = "", detail = "" }) {
  const met = Number.isFinite(value) && (cmp === "<=" ? value <= limit : value >= limit);
  const g = { name, value, limit, cmp, unit, met, detail };
  goals.push(g);
  log(goalText(g));
  return g;
}

const num = (x, unit) => (Number.isFinite(x) ? `${x.toFixed(2)}${unit}` : "—");
export const goalText = (g) =>
  `GOAL ${g.name}: ${num(g.value, g.unit)} (goal ${g.cmp === "<=" ? "≤" : "≥"} ${g.limit}${g.unit}) ${g.met ? "met" : "MISSED"}${g.detail ? ` — ${g.detail}` : ""}`;

/** The flat window: the chain ADD of the first and the last FLAT_WINDOW pods of a stream. */
export const FLAT_WINDOW = 10;

/** Growth of a stream's chain ADD: median of its last FLAT_WINDOW pods over the median of its first. */
export function growth(latencies) {
  const w = Math.min(FLAT_WINDOW, Math.floor(latencies.length / 2));
  if (w === 0) return NaN;
  return median(latencies.slice(-w)) / median(latencies.slice(0, w));
}

/**
 * The flat goal: the resident chain ADD on a node holding `pods` of its own pods over the same on
 * an empty node, rounds alternating (`ab`: the ADD times of each side), ≤ 1.1×; section 2's
 * growth (last pods of the stream over the first, on one node shared by the three) beside.
 */
export function flatGoal(log, lat, pods, ab) {
  const g = Object.fromEntries(Object.entries(lat).map(([name, xs]) => [name, growth(xs)]));
  const w = Math.min(FLAT_WINDOW, Math.floor(pods / 2));
  const stream = Object.entries(g)
    .map(([n, v]) => `${n === "podnet" ? "exec'd" : n} ${num(v, "×")}`)
    .join(", ");
  const full = median(ab.full);
  const empty = median(ab.empty);
  return goal(log, {
    name: `flat: resident chain ADD at ${pods} pods / at 1`,
    value: full / empty,
    limit: 1.1,
    unit: "×",
    detail: `${num(full, " ms")} on a node with ${pods} pods vs ${num(empty, " ms")} on an empty one, ${ab.full.length} alternating rounds; section 2's stream (the three on one node), pods ${pods - w + 1}–${pods} over 1–${w}: ${stream || "—"}`,
  });
}

/** Section 5's goal: kubenet's in-process setUpPod median ≤ 12 ms, the exec variants beside. */
export function kubenetGoal(log, rows) {
  const setup = rows.find((r) => r.label === "setUpPod");
  return goal(log, {
    name: "kubenet in-process setUpPod median",
    value: setup?.["in-process"],
    limit: 12,
    unit: " ms",
    detail: `p90 ${num(setup?.p90?.["in-process"], " ms")}; podnet exec'd ${num(setup?.["podnet-exec"], " ms")}, Go exec'd ${num(setup?.["go-exec"], " ms")}`,
  });
}
