import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { buildRequest, parseAnyConf, parseConf, parseConfList } from "./netconf.js";
import type { CniError } from "./errors.js";

const list = {
  cniVersion: "0.4.0",
  cniVersions: ["0.4.0", "1.0.0"],
  name: "k8s-pod-network",
  plugins: [
    { type: "bridge", bridge: "cni0", ipam: { type: "host-local", subnet: "10.200.0.0/24" } },
    { type: "portmap", capabilities: { portMappings: true, other: false }, snat: true },
  ],
};

describe("parseConfList", () => {
  it("parses, selects the highest version and keeps the bytes", () => {
    const bytes = JSON.stringify(list);
    const l = parseConfList(bytes, "/x/10-a.conflist");
    assert.equal(l.name, "k8s-pod-network");
    assert.equal(l.cniVersion, "1.0.0");
    assert.equal(l.plugins.length, 2);
    assert.deepEqual(l.plugins[1]?.capabilities, ["portMappings"]);
    assert.equal(l.bytes.toString(), bytes);
    assert.equal(l.disableCheck, false);
  });
  it("accepts the string forms of disableCheck", () => {
    assert.equal(parseConfList(JSON.stringify({ ...list, disableCheck: "TRUE" })).disableCheck, true);
    assert.throws(
      () => parseConfList(JSON.stringify({ ...list, disableGC: "yes" })),
      /"disableGC": must be true or false, got "yes"/,
    );
  });
  const bad: Array<[string, unknown, RegExp, number]> = [
    ["malformed JSON", "{", /error parsing configuration list/, 6],
    ["no name", { ...list, name: undefined }, /no name/, 7],
    ["a bad name", { ...list, name: "a/b" }, /^invalid characters found in network name; a\/b$/, 7],
    ["no plugins key", { name: "n", cniVersion: "1.0.0" }, /missing "plugins"/, 7],
    ["empty plugins", { ...list, plugins: [] }, /no plugins in list/, 7],
    [
      "a plugin without type",
      { ...list, plugins: [{ bridge: "x" }] },
      /failed to parse plugin config 0: missing 'type'/,
      7,
    ],
    ["a type with a slash", { ...list, plugins: [{ type: "../x" }] }, /invalid plugin name "..\/x"/, 7],
    ["a non-string version", { ...list, cniVersion: 1 }, /"cniVersion" must be a string, got 1/, 7],
  ];
  for (const [what, v, re, code] of bad) {
    it(`rejects ${what} with code ${code}`, () =>
      assert.throws(
        () => parseConfList(typeof v === "string" ? v : JSON.stringify(v)),
        (e: CniError) => e.code === code && re.test(e.toString()),
      ));
  }
});

describe("legacy .conf", () => {
  it("up-converts to a one-plugin list keeping the whole object", () => {
    const conf = { cniVersion: "0.3.1", name: "mynet", type: "bridge", ipMasq: true };
    const l = parseConf(JSON.stringify(conf));
    assert.equal(l.cniVersion, "0.3.1");
    assert.deepEqual({ ...l.plugins[0]?.raw }, conf);
    assert.equal(Object.getPrototypeOf(l.plugins[0]?.raw), null, "parsed configs are plain data");
  });
  it("rejects a conflist saved as .conf", () =>
    assert.throws(() => parseAnyConf(JSON.stringify(list), "/x/a.conf"), /looks like a configuration list/));
});

describe("buildRequest", () => {
  const l = parseConfList(JSON.stringify(list));
  it("injects name/version, filters capabilities into runtimeConfig, adds prevResult", () => {
    const req = buildRequest({
      list: l,
      plugin: l.plugins[1]!,
      prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.200.0.2/24" }] },
      capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }], bandwidth: {} },
    });
    assert.equal(req["name"], "k8s-pod-network");
    assert.equal(req["cniVersion"], "1.0.0");
    assert.deepEqual(
      { ...(req["runtimeConfig"] as object) },
      { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] },
    );
    // libcni marshals the result struct: dns is a struct value, never left out.
    assert.deepEqual(req["prevResult"], { cniVersion: "1.0.0", ips: [{ address: "10.200.0.2/24" }], dns: {} });
    assert.equal(req["snat"], true, "unknown keys pass through");
  });
  it("no runtimeConfig when no enabled capability is supplied; bare requests have none of it", () => {
    const req = buildRequest({ list: l, plugin: l.plugins[0]!, capabilityArgs: { portMappings: [] } });
    assert.equal("runtimeConfig" in req, false);
    const gc = buildRequest({
      list: l,
      plugin: l.plugins[1]!,
      bare: true,
      inject: { "cni.dev/valid-attachments": [] },
      capabilityArgs: { portMappings: [] },
    });
    assert.deepEqual(gc["cni.dev/valid-attachments"], []);
    assert.equal("runtimeConfig" in gc, false);
  });
  it("refuses a nil injected value", () =>
    assert.throws(
      () => buildRequest({ list: l, plugin: l.plugins[0]!, inject: { k: null } }),
      /key 'k' value must not be nil/,
    ));
});
