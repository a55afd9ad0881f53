// A second sandbox "node" with its own `podnet resident` daemon, to compare an ADD on a full node
// with an ADD on an empty one at the same moments (rounds alternate between them), so that the
// machine's load, which drifts over a minutes-long stream of pods, weighs on both alike. Used by
// bench/flat.mjs and by `npm run bench` (section 2's flat goal). Call from inside the bench's node
// netns (runInsideNodeNamespace): namespaces are named podnet-t-<tag>-*, removed by the caller's
// clean-up too.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, ip, ROOT } from "./lib.mjs";

/** A node netns with lo up and a resident daemon serving on `<dir>/cni-<name>.sock` inside it. */
export async function startResidentNode({ tag, dir, name }) {
  const netns = `podnet-t-${tag}-${name}`;
  ip("netns", "add", netns);
  ip("-n", netns, "link", "set", "lo", "up");
  const sock = join(dir, `cni-${name}.sock`);
  const daemon = spawn("ip", ["netns", "exec", netns, process.execPath, join(ROOT, "bin", "podnet"), "resident", "--socket", sock], {
    env: cleanEnv(),
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(sock)) {
    daemon.kill();
    throw new Error(`podnet resident did not start in ${netns}`);
  }
  return {
    netns,
    sock,
    /** The daemon's pid (`ip netns exec` execs it). */
    pid: daemon.pid,
    stop: () => daemon.kill(),
  };
}

/**
 * Alternates `cycle` between the sides for `rounds` rounds (+`warmup`), order rotating; each
 * cycle returns the ADD's ms. Returns each side's ADD times.
 */
export async function alternate(sides, rounds, warmup = 2) {
  const out = Object.fromEntries(sides.map((s) => [s.name, []]));
  for (let r = 0; r < rounds + warmup; r++) {
    for (const s of r % 2 ? [...sides].reverse() : sides) {
      const ms = await s.cycle();
      if (r >= warmup) out[s.name].push(ms);
    }
  }
  return out;
}
