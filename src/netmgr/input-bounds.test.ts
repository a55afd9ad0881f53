// The node manager's other JSON inputs (checkpoints, an exec plugin's status, the cached network
// config, the dns option) go through the bounded reader: positions, not content; no stack overflow.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CniError } from "../cni/index.js";
import {
  CorruptCheckpointError,
  decodeCheckpoint,
  encodeCheckpoint,
  type SandboxRecord,
} from "./sandbox/checkpoint.js";
import { dnsCapability, listFromCachedConfig } from "./plugins/cni/cni.js";
import { parseExecStatus } from "./plugins/exec/exec.js";

const SECRET = "root:$6$SECRETSALT$hashhash:19000:0:99999:7:::";
const deep = (n: number) => "[".repeat(n) + "]".repeat(n);

describe("node manager JSON inputs", () => {
  it("a checkpoint that is not JSON is corrupt, with a position and none of its bytes", () => {
    assert.throws(
      () => decodeCheckpoint(SECRET),
      (e: unknown) => {
        assert.ok(e instanceof CorruptCheckpointError);
        assert.equal(
          e.message,
          "checkpoint is not JSON: unexpected character (expected a value) at line 1, column 1 (byte 0)",
        );
        return true;
      },
    );
    assert.throws(() => decodeCheckpoint(deep(5_000_000)), /checkpoint is not JSON: nesting deeper than 1000 levels/);
  });
  it("a checkpoint still reads back as ordinary objects (it is podnet's own output)", () => {
    const r: SandboxRecord = {
      id: "s1",
      namespace: "default",
      name: "p",
      uid: "u",
      netns: "",
      ownsNetns: false,
      hostNetwork: false,
      portMappings: [],
      annotations: { a: "b" },
      options: {},
      plugin: "noop",
      createdAt: "t",
      phase: "ready",
      ips: [],
    };
    assert.deepEqual(decodeCheckpoint(encodeCheckpoint(r)), r);
  });
  it("an exec plugin's status output", () => {
    assert.throws(
      () => parseExecStatus(SECRET, "web"),
      (e: Error) =>
        /^invalid network status for pod 'web': unexpected character/.test(e.message) && !/SECRET/.test(e.message),
    );
    assert.throws(() => parseExecStatus(deep(100_000), "web"), /nesting deeper than 1000 levels/);
  });
  it("the cached network config and the dns option", () => {
    assert.throws(
      () => listFromCachedConfig(Buffer.from(SECRET)),
      (e: unknown) => e instanceof CniError && e.code === 6 && !/SECRET/.test(e.message),
    );
    assert.throws(() => dnsCapability(deep(100_000)), /nesting deeper than 1000 levels/);
    assert.deepEqual(dnsCapability('{"servers":["10.96.0.10"],"__proto__":{"searches":["evil"]}}'), {
      servers: ["10.96.0.10"],
      searches: [],
      options: [],
    });
  });
});
