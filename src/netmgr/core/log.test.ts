import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createJsonLogger } from "./log.js";

describe("the daemons' JSON log", () => {
  const at = Date.UTC(2025, 0, 31, 12, 0, 0, 120);
  const logger = (level: "debug" | "info" = "info") => {
    const out: string[] = [];
    return {
      out,
      log: createJsonLogger(
        (l) => out.push(l),
        level,
        () => at,
      ),
    };
  };
  it("one object per line: ISO time, level, msg first, then the fields (a child's first)", () => {
    const { out, log } = logger();
    log
      .child({ plugin: "kubenet" })
      .info("pod network set-up", { pod: "default/web", durationMs: 41.2, ips: ["10.200.0.2"] });
    assert.equal(
      out.join(""),
      '{"time":"2025-01-31T12:00:00.120Z","level":"info","msg":"pod network set-up","plugin":"kubenet","pod":"default/web","durationMs":41.2,"ips":["10.200.0.2"]}\n',
    );
  });
  it("below the level: nothing; a newline in a message stays inside its line", () => {
    const { out, log } = logger("info");
    log.debug("hidden");
    log.warn("two\nlines", { text: "a\nb" });
    assert.equal(out.length, 1);
    assert.equal(out[0]!.split("\n").length, 2, "one line, then the line break");
    assert.deepEqual(JSON.parse(out[0]!), {
      time: "2025-01-31T12:00:00.120Z",
      level: "warn",
      msg: "two\nlines",
      text: "a\nb",
    });
  });
  it("errors as {type, message, code, cause}; bigints as text; a field named like time, level or msg does not replace it", () => {
    const { out, log } = logger();
    const err = Object.assign(new Error("tc: no such device", { cause: new RangeError("inner") }), { code: "ENODEV" });
    log.error("failed", { err, big: 2n ** 64n, msg: "mine", level: 1 });
    assert.deepEqual(JSON.parse(out[0]!), {
      time: "2025-01-31T12:00:00.120Z",
      level: "error",
      msg: "failed",
      err: {
        type: "Error",
        message: "tc: no such device",
        code: "ENODEV",
        cause: { type: "RangeError", message: "inner" },
      },
      big: "18446744073709551616",
      _msg: "mine",
      _level: 1,
    });
  });
  it("a field that cannot be written (a cycle) still leaves the record, saying so", () => {
    const { out, log } = logger();
    const loop: Record<string, unknown> = {};
    loop["self"] = loop;
    log.info("odd", { loop });
    const o = JSON.parse(out[0]!) as Record<string, unknown>;
    assert.equal(o["msg"], "odd");
    assert.match(String(o["logError"]), /^fields not written: Converting circular structure to JSON/);
  });
});
