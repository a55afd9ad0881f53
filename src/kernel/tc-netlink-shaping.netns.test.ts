// Token-bucket shaping over netlink against the real kernel, with `tc` itself as the oracle: the
// same operations applied by `tc -batch` to one set of devices and over netlink to another read
// back identically in `tc -d -json qdisc/filter show`, and deleting works either way.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isKernelError } from "./errors.js";
import { tbfParams, tcLine, type ShapingOp } from "./tc.js";
import { openTcNetlink } from "./tc-netlink.js";
import { netnsSkip, withTempNetns, type TempNetns } from "./testing.js";

const TICK = 15.625;

/** `tc -d -json <what> show dev DEV [parent ffff:]` with device names made neutral, counters and action indexes left out. */
async function show(
  ns: TempNetns,
  what: "qdisc" | "filter",
  dev: string,
  names: Record<string, string>,
): Promise<unknown> {
  const args = ["tc", "-d", "-json", what, "show", "dev", dev, ...(what === "filter" ? ["parent", "ffff:"] : [])];
  let text = await ns.exec(...args);
  for (const [from, to] of Object.entries(names)) text = text.replaceAll(from, to);
  const drop = (o: unknown): unknown => {
    if (Array.isArray(o)) return o.map(drop);
    if (o && typeof o === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o))
        if (
          ![
            "stats",
            "stats64",
            "xstats",
            "ref",
            "bind",
            "installed",
            "last_used",
            "expires",
            "first_used",
            "index",
          ].includes(k)
        )
          out[k] = drop(v);
      return out;
    }
    return o;
  };
  return drop(text.trim() === "" ? [] : JSON.parse(text));
}

describe("tc shaping over netlink (real kernel)", { skip: netnsSkip() }, () => {
  it("tbf, ingress and the mirred redirect read back exactly as tc's own; deletes go either way", () =>
    withTempNetns(async (ns) => {
      for (const [veth, peer, ifb] of [
        ["pt-va", "pt-vap", "pt-ifa"],
        ["pt-vb", "pt-vbp", "pt-ifb"],
      ] as const) {
        await ns.ops.linkAddVeth(veth, peer, { up: true });
        await ns.ops.linkAddIfb(ifb, { up: true });
      }
      const ops = (veth: string, ifb: string, rate: number): ShapingOp[] => [
        { op: "tbf", mode: "add", dev: veth, params: tbfParams(rate * 8, 100_000 * 8, TICK) },
        { op: "ingress", dev: veth },
        { op: "redirect", dev: veth, to: ifb },
        { op: "tbf", mode: "replace", dev: ifb, params: tbfParams(rate * 4, 50_000 * 8, TICK) },
      ];
      const tc = openTcNetlink(ns.path);
      try {
        // small, ordinary, and beyond 32 bits of bytes/s (TCA_TBF_RATE64)
        for (const rate of [1_000, 125_000_000, 6_000_000_000]) {
          await ns.exec(
            "sh",
            "-c",
            `printf '%s\\n' ${ops("pt-va", "pt-ifa", rate)
              .map((o) => `'${tcLine(o)}'`)
              .join(" ")} | tc -batch -`,
          );
          tc.shape(ops("pt-vb", "pt-ifb", rate));
          const names = { "pt-va": "VETH", "pt-vb": "VETH", "pt-ifa": "IFB", "pt-ifb": "IFB" };
          for (const [a, b] of [
            ["pt-va", "pt-vb"],
            ["pt-ifa", "pt-ifb"],
          ] as const) {
            assert.deepEqual(
              await show(ns, "qdisc", b, names),
              await show(ns, "qdisc", a, names),
              `qdiscs of ${b}, rate ${rate}`,
            );
          }
          assert.deepEqual(
            await show(ns, "filter", "pt-vb", names),
            await show(ns, "filter", "pt-va", names),
            `filter, rate ${rate}`,
          );
          assert.deepEqual(tc.shapingQdiscs("pt-vb"), [
            { kind: "tbf", handle: "1:", root: true },
            { kind: "ingress", handle: "ffff:", parent: "ffff:fff1" },
          ]);
          // tc removes what netlink made and the other way round.
          const del = (veth: string, ifb: string): ShapingOp[] => [
            { op: "unredirect", dev: veth },
            { op: "delIngress", dev: veth },
            { op: "delRoot", dev: veth },
            { op: "delRoot", dev: ifb },
          ];
          tc.shape(del("pt-va", "pt-ifa"));
          await ns.exec(
            "sh",
            "-c",
            `printf '%s\\n' ${del("pt-vb", "pt-ifb")
              .map((o) => `'${tcLine(o)}'`)
              .join(" ")} | tc -batch -`,
          );
          for (const dev of ["pt-va", "pt-vb", "pt-ifa", "pt-ifb"]) {
            assert.deepEqual(
              tc.shapingQdiscs(dev).filter((q) => q.kind === "tbf" || q.kind === "ingress"),
              [],
              dev,
            );
            assert.doesNotMatch(await ns.exec("tc", "qdisc", "show", "dev", dev), /tbf|ingress/);
          }
        }
        // Errors carry the kernel's errno: a second root tbf, a delete of what is not there (force: all tried).
        tc.shape([{ op: "tbf", mode: "add", dev: "pt-va", params: tbfParams(8000, 80_000, TICK) }]);
        assert.throws(
          () => tc.shape([{ op: "tbf", mode: "add", dev: "pt-va", params: tbfParams(8000, 80_000, TICK) }]),
          (e) => isKernelError(e, "EEXIST"),
        );
        assert.throws(
          () =>
            tc.shape(
              [
                { op: "delIngress", dev: "pt-va" },
                { op: "delRoot", dev: "pt-va" },
              ],
              { force: true },
            ),
          (e) => isKernelError(e, "EINVAL", "ENOENT"),
        );
        assert.deepEqual(
          tc.shapingQdiscs("pt-va"),
          [{ kind: "noqueue", handle: "0:", root: true }],
          "force went on after the failed delete (as tc shows it)",
        );
        assert.throws(
          () => tc.shapingQdiscs("pt-nope"),
          (e) => isKernelError(e, "ENODEV"),
        );
      } finally {
        tc.close();
      }
    }));
});
