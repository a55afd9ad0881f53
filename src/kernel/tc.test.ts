import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { KernelError } from "./errors.js";
import {
  classifyTcError,
  createTc,
  isTcExists,
  parsePsched,
  tbfParams,
  TcError,
  tcLine,
  xmitTime,
  type ShapingOp,
} from "./tc.js";
import { createFakeExec } from "./testing.js";

describe("token bucket arithmetic (Go's bandwidth plugin)", () => {
  it("reads psched ticks: 1000/64 µs on a modern kernel", () => {
    assert.deepEqual(parsePsched("000003e8 00000040 000f4240 3b9aca00\n"), { tickInUsec: 15.625, hz: 1_000_000_000 });
    assert.equal(parsePsched("garbage").tickInUsec, 15.625);
    assert.deepEqual(
      parsePsched("000003e8 00000040 3b9aca00 3b9aca00"),
      { tickInUsec: 1000, hz: 100 },
      "clockres 1e9: t2us is replaced by us2t",
    );
  });

  it("xmit time as tc_calc_xmittime: the division first, then the truncations", () => {
    const ps = parsePsched("000003e8 00000040 000f4240 3b9aca00");
    assert.equal(xmitTime(125_000, 100_000, ps), 12_500_000);
    assert.equal(xmitTime(3, 1, ps), Math.trunc(333333 * 15.625));
  });

  it("the worked example: 1 Mbit/s with an 800 kbit burst", () => {
    assert.deepEqual(tbfParams(1_000_000, 800_000), {
      rateBytes: 125_000,
      burstBytes: 100_000,
      limitBytes: 103_125,
      bufferTicks: 12_500_000,
    });
  });

  it("Kubernetes' burst at 1 Mbit/s does not wrap around (Go: buffer 3489660803 instead of 33554431875)", () => {
    const p = tbfParams(1_000_000, 2147483647);
    assert.ok(p.bufferTicks <= 0xffffffff);
    assert.ok(p.bufferTicks > 4_000_000_000, `clamped to the largest buffer, got ${p.bufferTicks}`);
    assert.ok(p.burstBytes < 268435455 && p.burstBytes > 34_000_000);
    assert.ok(p.limitBytes <= 0xffffffff);
  });

  it("a rate under one byte per second is an error, not a division by zero", () => {
    assert.throws(() => tbfParams(7, 800), /less than one byte per second/);
  });

  it("renders the tc command in bytes", () => {
    assert.equal(
      tcLine({ op: "tbf", mode: "add", dev: "veth0", params: tbfParams(8_000_000, 800_000) }),
      "qdisc add dev veth0 root handle 1: tbf rate 1000000bps burst 100000 limit 125000",
    );
  });
});

describe("tc", () => {
  it("classifies errors", () => {
    assert.equal(classifyTcError("RTNETLINK answers: File exists\nCommand failed -:1\n"), "EEXIST");
    assert.equal(classifyTcError('Cannot find device "veth9"\n'), "ENODEV");
    assert.equal(classifyTcError("Error: Exclusivity flag on, cannot modify.\n"), "EEXIST");
  });

  const ops: ShapingOp[] = [
    { op: "tbf", mode: "add", dev: "a", params: { rateBytes: 1, burstBytes: 1, limitBytes: 1, bufferTicks: 1 } },
    { op: "ingress", dev: "a" },
  ];

  it("without netlink: the operations through one `tc -batch -`, reads through -json", async () => {
    const exec = createFakeExec()
      .on("", (_argv, stdin) =>
        stdin.includes("dev bad") ? { code: 1, stderr: "RTNETLINK answers: File exists\nCommand failed -:2\n" } : "",
      )
      .on(
        / -json /,
        '[{"kind":"tbf","handle":"1:","root":true,"options":{"rate":125000,"burst":100000,"lat":25000}}]\n',
      );
    const calls = exec.calls;
    const tc = createTc({ exec });
    await tc.apply(ops);
    assert.deepEqual(calls[0], {
      argv: ["tc", "-batch", "-"],
      stdin: "qdisc add dev a root handle 1: tbf rate 1bps burst 1 limit 1\nqdisc add dev a handle ffff: ingress\n",
    });
    await tc.apply([{ op: "delRoot", dev: "a" }], { force: true });
    assert.deepEqual(calls[1]!.argv, ["tc", "-force", "-batch", "-"]);
    await assert.rejects(
      tc.apply([{ op: "ingress", dev: "bad" }]),
      (e: unknown) => isTcExists(e) && /tc batch failed: RTNETLINK answers: File exists$/.test(e.message),
    );
    assert.deepEqual(await tc.qdiscs("a"), [
      { kind: "tbf", handle: "1:", root: true, options: { rate: 125000, burst: 100000, lat: 25000 } },
    ]);
  });

  it("with netlink: no process but for the tbf numbers, and the kernel's errors as TcErrors", async () => {
    const calls: string[] = [];
    const applied: string[] = [];
    let opened = 0;
    const tc = createTc({
      exec: {
        run: async (argv) => {
          calls.push(argv.join(" "));
          return "[]";
        },
      },
      netlink: () => {
        opened++;
        return {
          shapingQdiscs: () => [{ kind: "noqueue", handle: "0:", root: true }],
          shape: (o, a) => {
            if (o.some((x) => x.dev === "bad"))
              throw new KernelError("netlink: tc qdisc add dev bad handle ffff: ingress", "EEXIST");
            applied.push(...o.map((x) => `${a?.force ? "force " : ""}${tcLine(x)}`));
          },
          close: () => {},
        };
      },
    });
    await tc.apply(ops);
    await tc.apply([{ op: "delRoot", dev: "a" }], { force: true });
    assert.deepEqual(applied, [
      "qdisc add dev a root handle 1: tbf rate 1bps burst 1 limit 1",
      "qdisc add dev a handle ffff: ingress",
      "force qdisc del dev a root",
    ]);
    assert.deepEqual(await tc.qdiscs("a"), [{ kind: "noqueue", handle: "0:", root: true }]);
    await assert.rejects(
      tc.apply([{ op: "ingress", dev: "bad" }]),
      (e: unknown) => e instanceof TcError && isTcExists(e) && /File exists \(EEXIST\)$/.test(e.message),
    );
    assert.deepEqual(calls, []);
    await tc.qdiscs("a", { options: true });
    assert.deepEqual(calls, ["tc -json qdisc show dev a"]);
    assert.equal(opened, 1, "one socket for the port's life");
  });
});
