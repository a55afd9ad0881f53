import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatCniArgs, loadArgs, parseCniArgs } from "./args.js";
import { getCI, canonicalKeys } from "./keys.js";
import { validateContainerID, validateEnvValue, validateIfName, validateNetworkName } from "./validate.js";
import type { CniError } from "./errors.js";

describe("CNI_ARGS", () => {
  it("parses ordered pairs and round-trips", () => {
    const s = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0";
    const p = parseCniArgs(s);
    assert.deepEqual(p, [
      ["IgnoreUnknown", "1"],
      ["K8S_POD_NAMESPACE", "default"],
      ["K8S_POD_NAME", "web-0"],
    ]);
    assert.equal(formatCniArgs(p), s);
  });
  it("empty means no args", () => assert.deepEqual(parseCniArgs(""), []));
  for (const bad of ["A=1;", "A", "A=1=2", "A=1;;B=2"]) {
    it(`rejects ${JSON.stringify(bad)} naming the piece`, () =>
      assert.throws(
        () => parseCniArgs(bad),
        (e: CniError) => e.code === 4 && /ARGS: invalid pair/.test(e.message),
      ));
  }
  it("unknown keys fail unless IgnoreUnknown", () => {
    assert.throws(() => loadArgs("IP=10.0.0.2;FOO=bar", ["IP"]), /unknown args \["FOO=bar"\]/);
    assert.deepEqual({ ...loadArgs("IgnoreUnknown=true;IP=10.0.0.2;FOO=bar", ["IP"]) }, { IP: "10.0.0.2" });
    assert.throws(() => loadArgs("IgnoreUnknown=maybe", []), /IgnoreUnknown="maybe" is not a boolean/);
  });
  it("keys are case-sensitive, as Go struct field names", () => {
    assert.throws(() => loadArgs("ip=10.0.0.2", ["IP"]), /unknown args/);
  });
});

describe("case-insensitive keys", () => {
  it("matches containerd's HostPort and lets the last key win", () => {
    assert.equal(getCI({ HostPort: 80 }, "hostPort"), 80);
    assert.equal(getCI({ hostPort: 1, HOSTPORT: 2 }, "hostport"), 2);
    assert.equal(getCI({}, "x"), undefined);
    const c = canonicalKeys({ IngressRate: 5, other: 1 }, ["ingressRate"]);
    assert.deepEqual({ ...c }, { ingressRate: 5, other: 1 });
    assert.equal(Object.getPrototypeOf(c), null, "a copy of input keys has no prototype");
  });
});

describe("identifier validation", () => {
  it("container IDs", () => {
    assert.throws(
      () => validateContainerID(""),
      (e: CniError) => e.code === 3,
    );
    // Go's words: the value goes into details.
    assert.throws(
      () => validateContainerID("-abc"),
      (e: CniError) => e.code === 4 && e.message === "invalid characters in containerID" && e.details === "-abc",
    );
    validateContainerID("abc_1.2-3");
  });
  it("network names", () => {
    assert.throws(
      () => validateNetworkName("a b"),
      (e: CniError) => e.code === 7 && e.details === "a b",
    );
    validateNetworkName("k8s-pod-network");
  });
  it("interface names", () => {
    for (const bad of ["", "a".repeat(16), ".", "..", "et/h0", "eth:0", "eth 0", "eth\u00850", "eth\u30000"]) {
      assert.throws(
        () => validateIfName(bad),
        (e: CniError) => e.code === 4,
        bad,
      );
    }
    validateIfName("a".repeat(15));
  });
  it("interface names with a NUL (the kernel would cut the name there), as code 4", () => {
    for (const bad of ["eth0\0", "\0", "e\0th0", "eth0\0/../x"]) {
      assert.throws(
        () => validateIfName(bad),
        (e: CniError) => e.code === 4 && /contains a NUL byte/.test(e.message),
        JSON.stringify(bad),
      );
    }
    assert.throws(
      () => validateEnvValue("CNI_NETNS", "/run/netns/a\0b"),
      (e: CniError) => e.code === 4 && e.message === "invalid CNI_NETNS: contains a NUL byte",
    );
    validateEnvValue("CNI_NETNS", "/run/netns/ab");
  });
});
