import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ALL_SPEC_VERSIONS,
  compareVersions,
  decodeConfVersion,
  generationOf,
  parseVersion,
  selectConfVersion,
  specHas,
} from "./version.js";
import type { CniError } from "./errors.js";

describe("parseVersion", () => {
  const cases: Array<[string, [number, number, number]]> = [
    ["", [0, 1, 0]],
    ["1", [1, 0, 0]],
    ["0.3", [0, 3, 0]],
    ["1.1.0", [1, 1, 0]],
    ["10.20.30", [10, 20, 30]],
    ["+1.-2", [1, -2, 0]], // strconv.Atoi takes a sign
  ];
  for (const [s, want] of cases) it(`"${s}" → ${want.join(".")}`, () => assert.deepEqual(parseVersion(s), want));
  // libcni's ParseVersion, word for word.
  const bad: Array<[string, string]> = [
    ["1.2.3.4", 'invalid version "1.2.3.4": too many parts'],
    ["a.b", 'failed to convert major version part "a": strconv.Atoi: parsing "a": invalid syntax'],
    ["1..0", 'failed to convert minor version part "": strconv.Atoi: parsing "": invalid syntax'],
    ["v1.0.0", 'failed to convert major version part "v1": strconv.Atoi: parsing "v1": invalid syntax'],
    [
      "1.0.99999999999999999999",
      'failed to convert micro version part "99999999999999999999": strconv.Atoi: parsing "99999999999999999999": value out of range',
    ],
  ];
  for (const [s, msg] of bad) {
    it(`rejects "${s}" as libcni does`, () =>
      assert.throws(
        () => parseVersion(s),
        (e: CniError) => e.code === 6 && e.message === msg,
      ));
  }
});

describe("compareVersions and generations", () => {
  it("orders numerically, not lexically", () => {
    assert.equal(compareVersions("0.10.0", "0.4.0"), 1);
    assert.equal(compareVersions("0.3.1", "0.3.1"), 0);
    assert.equal(compareVersions("0.3.0", "1.0"), -1);
  });
  it("maps every spec version to its generation", () => {
    const gens = ALL_SPEC_VERSIONS.map(generationOf);
    assert.deepEqual(gens, ["020", "020", "040", "040", "040", "100", "100"]);
    assert.equal(generationOf(""), "020");
    assert.throws(() => generationOf("0.5.0"), /unsupported CNI result version "0.5.0"/);
  });
  for (const v of ALL_SPEC_VERSIONS) {
    it(`[${v}] verbs allowed`, () => {
      assert.equal(specHas(v, "ADD"), true);
      assert.equal(specHas(v, "CHECK"), compareVersions(v, "0.4.0") >= 0);
      assert.equal(specHas(v, "GC"), v === "1.1.0");
      assert.equal(specHas(v, "STATUS"), v === "1.1.0");
    });
  }
});

describe("decodeConfVersion / selectConfVersion", () => {
  it("defaults to 0.1.0 when absent", () => assert.equal(decodeConfVersion({ name: "x" }), "0.1.0"));
  it("rejects a non-string version as skel does", () =>
    assert.throws(
      () => decodeConfVersion({ cniVersion: 1 }),
      (e: CniError) =>
        e.code === 6 &&
        e.message ===
          "decoding version from network config: json: cannot unmarshal number into Go struct field .cniVersion of type string",
    ));
  it("matches the key without case, as Go's decoder does", () =>
    assert.equal(decodeConfVersion({ CNIVersion: "0.3.1" }), "0.3.1"));
  it("picks the highest supported version from cniVersions", () => {
    assert.equal(selectConfVersion("0.4.0", ["0.3.1", "1.0.0", "1.1.0", "2.0.0"]), "1.1.0");
    assert.equal(selectConfVersion("1.0.0", undefined), "1.0.0");
    assert.equal(selectConfVersion("3.0.0", ["2.0.0"]), "3.0.0");
  });
  it("rejects a bad cniVersions entry by index", () =>
    assert.throws(() => selectConfVersion("1.0.0", ["1.0.0", "x"]), /"x" at index 1/));
});
