import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ExecError } from "./exec.js";
import { classifyTcError, createTc, parsePsched, tbfCommand, tbfParams } from "./tc.js";

describe("token bucket arithmetic (Go's bandwidth plugin)", () => {
  it("reads psched ticks: 1000/64 µs on a modern kernel", () => {
    assert.equal(parsePsched("000003e8 00000040 000f4240 3b9aca00\n"), 15.625);
    assert.equal(parsePsched("garbage"), 15.625);
    assert.equal(parsePsched("000003e8 00000040 3b9aca00 3b9aca00"), 1000, "clockres 1e9: t2us is replaced by us2t");
  });

  it("the worked example: 1 Mbit/s with an 800 kbit burst", () => {
    assert.deepEqual(tbfParams(1_000_000, 800_000), { rateBytes: 125_000, burstBytes: 100_000, limitBytes: 103_125, bufferTicks: 12_500_000 });
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
    assert.equal(tbfCommand("add", "veth0", tbfParams(8_000_000, 800_000)), "qdisc add dev veth0 root handle 1: tbf rate 1000000bps burst 100000 limit 125000");
  });
});

describe("tc", () => {
  it("classifies errors", () => {
    assert.equal(classifyTcError("RTNETLINK answers: File exists\nCommand failed -:1\n"), "EEXIST");
    assert.equal(classifyTcError('Cannot find device "veth9"\n'), "ENODEV");
    assert.equal(classifyTcError("Error: Exclusivity flag on, cannot modify.\n"), "EEXIST");
  });

  it("batches commands through one `tc -batch -` and parses -json reads", async () => {
    const calls: Array<{ argv: readonly string[]; stdin: string }> = [];
    const tc = createTc({
      async run(argv, o) {
        calls.push({ argv, stdin: String(o?.stdin ?? "") });
        if (argv.includes("-json")) return '[{"kind":"tbf","handle":"1:","root":true,"options":{"rate":125000,"burst":100000,"lat":25000}}]\n';
        if (String(o?.stdin).includes("bad")) throw new ExecError(argv, 1, "", "RTNETLINK answers: File exists\nCommand failed -:2\n");
        return "";
      },
    });
    await tc.batch(["qdisc add dev a root handle 1: tbf rate 1bps burst 1 limit 1", "qdisc add dev a ingress"]);
    assert.deepEqual(calls[0], { argv: ["tc", "-batch", "-"], stdin: "qdisc add dev a root handle 1: tbf rate 1bps burst 1 limit 1\nqdisc add dev a ingress\n" });
    await tc.batch(["qdisc del dev a root"], { force: true });
    assert.deepEqual(calls[1]!.argv, ["tc", "-force", "-batch", "-"]);
    await assert.rejects(tc.batch(["bad"]), (e: Error & { errno?: string }) => e.errno === "EEXIST" && /tc batch failed: RTNETLINK answers: File exists$/.test(e.message));
    assert.deepEqual(await tc.qdiscs("a"), [{ kind: "tbf", handle: "1:", root: true, options: { rate: 125000, burst: 100000, lat: 25000 } }]);
  });
});
