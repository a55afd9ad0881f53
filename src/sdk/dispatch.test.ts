import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ALL_SPEC_VERSIONS, CniError, specHas, type Result } from "../cni/index.js";
import { invokeFuncs } from "./testing.js";
import { RelayedError, type CmdArgs, type PluginFuncs } from "./types.js";
import { SAMPLE_ABOUT, samplePlugin } from "../plugins/sample/sample.js";

const result: Result = {
  cniVersion: "1.1.0",
  interfaces: [{ name: "eth0", mac: "0a:58:0a:c8:00:02", mtu: 1500, sandbox: "/var/run/netns/test" }],
  ips: [{ address: "10.200.0.2/24", gateway: "10.200.0.1", interface: 0 }],
  routes: [{ dst: "0.0.0.0/0", gw: "10.200.0.1" }],
};

function recorder(over: Partial<PluginFuncs> = {}) {
  const calls: CmdArgs[] = [];
  const funcs: PluginFuncs = {
    add: async (a) => {
      calls.push(a);
      return result;
    },
    del: async (a) => void calls.push(a),
    check: async (a) => void calls.push(a),
    status: async (a) => void calls.push(a),
    gc: async (a) => void calls.push(a),
    ...over,
  };
  return { calls, funcs };
}
const about = { name: "test", supportedVersions: ALL_SPEC_VERSIONS };

for (const ver of ALL_SPEC_VERSIONS) {
  describe(`[${ver}] dispatch`, () => {
    it("ADD prints the result in the caller's version", async () => {
      const { funcs, calls } = recorder();
      const out = await invokeFuncs(funcs, about, {
        command: "ADD",
        conf: { cniVersion: ver, name: "net", type: "test" },
        args: "IgnoreUnknown=1",
      });
      assert.equal(out.code, 0, out.stdout);
      assert.equal(out.json?.["cniVersion"], ver);
      if (ver.startsWith("0.1") || ver.startsWith("0.2"))
        assert.deepEqual(out.json?.["ip4"], {
          ip: "10.200.0.2/24",
          gateway: "10.200.0.1",
          routes: [{ dst: "0.0.0.0/0", gw: "10.200.0.1" }],
        });
      else assert.equal((out.json!["ips"] as unknown[]).length, 1);
      assert.equal(calls[0]?.ifName, "eth0");
      assert.equal(calls[0]?.args, "IgnoreUnknown=1");
      assert.deepEqual(calls[0]?.path, ["/opt/cni/bin"]);
    });
    for (const verb of ["CHECK", "STATUS", "GC"] as const) {
      it(`${verb} is ${specHas(ver, verb) ? "allowed" : "refused with code 1"}`, async () => {
        const { funcs, calls } = recorder();
        const out = await invokeFuncs(funcs, about, { command: verb, conf: { cniVersion: ver, name: "net" } });
        if (specHas(ver, verb)) {
          assert.equal(out.code, 0, out.stdout);
          assert.equal(out.stdout, "");
          assert.equal(calls.length, 1);
        } else {
          assert.equal(out.code, 1);
          assert.deepEqual(
            out.json,
            { code: 1, msg: `config version does not allow ${verb}` },
            "skel's words, no details",
          );
          assert.equal(calls.length, 0);
        }
      });
    }
    it("a plugin that does not support the version answers code 1 with details", async () => {
      const { funcs } = recorder();
      const only = { name: "t", supportedVersions: ALL_SPEC_VERSIONS.filter((v) => v !== ver) };
      const out = await invokeFuncs(funcs, only, { command: "ADD", conf: { cniVersion: ver, name: "net" } });
      assert.equal(out.json?.["code"], 1);
      assert.match(String(out.json?.["details"]), new RegExp(`config is "${ver.replace(/\./g, "\\.")}"`));
    });
    it("the sample plugin passes prevResult through", async () => {
      const prev = {
        cniVersion: ver,
        ...(ver < "0.3.0"
          ? { ip4: { ip: "10.200.0.2/24" } }
          : { ips: [{ ...(ver < "1.0.0" ? { version: "4" } : {}), address: "10.200.0.2/24" }] }),
      };
      const out = await invokeFuncs(samplePlugin, SAMPLE_ABOUT, {
        command: "ADD",
        conf: { cniVersion: ver, name: "net", anotherAwesomeArg: "x", prevResult: prev },
      });
      assert.equal(out.code, 0, out.stdout);
      assert.equal(out.json?.["cniVersion"], ver);
    });
  });
}

describe("dispatch: environment and input errors", () => {
  const conf = { cniVersion: "1.0.0", name: "net" };
  // skel v1.1.1's answers, word for word, in skel's order (environment, stdin, config, IDs, verb).
  const cases: Array<[string, Parameters<typeof invokeFuncs>[2], number, string, string?]> = [
    ["unknown command", { command: "FROB", conf }, 4, "unknown CNI_COMMAND: FROB"],
    [
      "unknown command with a bad config: the config first",
      { command: "FROB", conf: "" },
      6,
      "error unmarshall network config: unexpected end of JSON input",
    ],
    ["missing CNI_NETNS on ADD", { command: "ADD", conf, netns: "" }, 4, "required env variables [CNI_NETNS] missing"],
    [
      "missing CNI_PATH and CNI_CONTAINERID",
      { command: "DEL", conf, path: "", containerID: "" },
      4,
      "required env variables [CNI_CONTAINERID,CNI_PATH] missing",
    ],
    ["a bad container id", { command: "ADD", conf, containerID: "$x" }, 4, "invalid characters in containerID", "$x"],
    [
      "a bad ifname",
      { command: "ADD", conf, ifName: "eth0:1" },
      4,
      "interface name contains / or : or whitespace characters",
    ],
    [
      "a bad ifname after a bad config",
      { command: "ADD", conf: "{", ifName: "eth0:1" },
      6,
      "error unmarshall network config: unexpected end of JSON input",
    ],
    [
      "malformed JSON",
      { command: "ADD", conf: "{not json" },
      6,
      "error unmarshall network config: invalid character 'n' looking for beginning of object key string",
    ],
    [
      "JSON that is not an object",
      { command: "ADD", conf: "[1]" },
      6,
      'error unmarshall network config: json: cannot unmarshal array into Go value of type struct { Name string "json:\\"name\\"" }',
    ],
    ["a missing network name", { command: "ADD", conf: { cniVersion: "1.0.0" } }, 7, "missing network name"],
    [
      "a non-string version",
      { command: "ADD", conf: { cniVersion: 1, name: "n" } },
      6,
      "decoding version from network config: json: cannot unmarshal number into Go struct field .cniVersion of type string",
    ],
    [
      "an unknown version",
      { command: "ADD", conf: { cniVersion: "abc", name: "n" } },
      1,
      "incompatible CNI versions",
      'config is "abc", plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]',
    ],
    [
      "CHECK with an unparsable version",
      { command: "CHECK", conf: { cniVersion: "abc", name: "n" } },
      6,
      'failed to convert major version part "abc": strconv.Atoi: parsing "abc": invalid syntax',
    ],
    [
      "CHECK with a version newer than the plugin's",
      { command: "CHECK", conf: { cniVersion: "9.0.0", name: "n" } },
      1,
      "plugin version does not allow CHECK",
    ],
    // Bounded input (src/cni/json.ts): refused by a linear scan before anything grows with the
    // input; in encoding/json's words where Go refuses too, in the reader's own where only podnet does.
    [
      "a 5,000,000-deep document",
      { command: "ADD", conf: "[".repeat(5_000_000) + "]".repeat(5_000_000) },
      6,
      "error unmarshall network config: invalid character '[' exceeded max depth",
    ],
    [
      "a 2,000-deep document (Go goes to 10,000)",
      { command: "ADD", conf: "[".repeat(2000) + "]".repeat(2000) },
      6,
      "error unmarshall network config: nesting deeper than 1000 levels at line 1, column 1001 (byte 1000)",
    ],
    [
      "a document over 64 MiB",
      { command: "ADD", conf: `{"cniVersion":"1.0.0","name":"n","pad":"${"x".repeat(64 * 1024 * 1024)}"}` },
      6,
      "error unmarshall network config: input is larger than 64 MiB",
    ],
    // Go quotes the one byte it stops at, never more.
    [
      "a file that is not JSON",
      { command: "ADD", conf: "root:$6$SECRETSALT$h4sh:19000::" },
      6,
      "error unmarshall network config: invalid character 'r' looking for beginning of value",
    ],
    // A NUL ends a name in every system call: refused like any invalid name (resident protocol env).
    [
      "an ifname with a NUL",
      { command: "ADD", conf, ifName: "eth0\0evil" },
      4,
      "invalid CNI_IFNAME: contains a NUL byte",
    ],
    [
      "a netns path with a NUL",
      { command: "ADD", conf, netns: "/var/run/netns/a\0b" },
      4,
      "invalid CNI_NETNS: contains a NUL byte",
    ],
    [
      "a CNI_PATH with a NUL",
      { command: "DEL", conf, path: "/opt/cni/bin\0/tmp" },
      4,
      "invalid CNI_PATH: contains a NUL byte",
    ],
    ["CNI_ARGS with a NUL", { command: "DEL", conf, args: "IP=1.2.3.4\0" }, 4, "invalid CNI_ARGS: contains a NUL byte"],
    [
      "a container id with a NUL",
      { command: "DEL", conf, containerID: "abc\0def" },
      4,
      "invalid CNI_CONTAINERID: contains a NUL byte",
    ],
  ];
  for (const [what, inv, code, msg, details] of cases) {
    it(`${what} → code ${code}`, async () => {
      const { funcs, calls } = recorder();
      const out = await invokeFuncs(funcs, about, inv);
      assert.equal(out.code, 1);
      assert.deepEqual(out.json, { code, msg, ...(details ? { details } : {}) });
      assert.equal(calls.length, 0, "the plugin function is not called");
    });
  }
  it("the plugin gets the config as plain data: no prototype, __proto__ only a key", async () => {
    const { funcs, calls } = recorder();
    const out = await invokeFuncs(funcs, about, {
      command: "ADD",
      conf: '{"cniVersion":"1.0.0","name":"n","__proto__":{"dataDir":"/x"},"ipam":{"__proto__":{"dataDir":"/x"}}}',
    });
    assert.equal(out.code, 0, out.stdout);
    const nc = calls[0]!.netconf;
    assert.equal(Object.getPrototypeOf(nc), null);
    assert.equal(nc["dataDir"], undefined);
    assert.equal((nc["ipam"] as Record<string, unknown>)["dataDir"], undefined);
    assert.deepEqual(Object.keys(nc), ["cniVersion", "name", "__proto__", "ipam"]);
  });
  it("VERSION answers without reading stdin", async () => {
    const out = await invokeFuncs(
      recorder().funcs,
      { name: "t", supportedVersions: ["0.3.1", "1.0.0"] },
      { command: "VERSION", conf: "garbage" },
    );
    assert.deepEqual(out.json, { cniVersion: "1.1.0", supportedVersions: ["0.3.1", "1.0.0"] });
  });
  it("no CNI_COMMAND prints the about text to stderr and exits 0", async () => {
    const out = await invokeFuncs(recorder().funcs, about, { command: "" });
    assert.equal(out.code, 0);
    assert.match(out.stderr, /^CNI test plugin podnet v.*\nCNI protocol versions supported: 0\.1\.0, /);
  });
  it("a CniError from the plugin passes through; anything else is 999", async () => {
    const a = await invokeFuncs(
      recorder({
        add: async () => {
          throw new CniError(11, "busy", { details: "retry" });
        },
      }).funcs,
      about,
      { command: "ADD", conf },
    );
    assert.deepEqual(a.json, { code: 11, msg: "busy", details: "retry" });
    const b = await invokeFuncs(
      recorder({
        del: async () => {
          throw new TypeError("boom");
        },
      }).funcs,
      about,
      { command: "DEL", conf },
    );
    assert.deepEqual(b.json, { code: 999, msg: "boom" });
  });
  it("plainErrors: a failure is 999 with its whole text, as Go's plugins' plain errors; a relayed one keeps its code", async () => {
    const plain = { ...about, plainErrors: true };
    const busy = () => new CniError(11, "busy", { details: "retry" });
    const a = await invokeFuncs(
      recorder({
        add: async () => {
          throw busy();
        },
      }).funcs,
      plain,
      { command: "ADD", conf },
    );
    assert.deepEqual(a.json, { code: 999, msg: "busy; retry" });
    const b = await invokeFuncs(
      recorder({
        check: async () => {
          throw RelayedError.from(busy());
        },
      }).funcs,
      plain,
      { command: "CHECK", conf },
    );
    assert.deepEqual(b.json, { code: 11, msg: "busy", details: "retry" });
    const c = await invokeFuncs(
      recorder({
        status: async () => {
          throw new CniError(50, "down");
        },
      }).funcs,
      plain,
      { command: "STATUS", conf: { ...conf, cniVersion: "1.1.0" } },
    );
    assert.deepEqual(c.json, { code: 50, msg: "down" }, "STATUS keeps the spec's codes");
  });
  it("a result the caller's version cannot express is an error, not a bad answer", async () => {
    const out = await invokeFuncs(
      recorder({ add: async () => ({ cniVersion: "1.1.0", interfaces: [{ name: "eth0" }] }) }).funcs,
      about,
      { command: "ADD", conf: { cniVersion: "0.2.0", name: "n" } },
    );
    assert.equal(out.code, 1);
    assert.match(String(out.json?.["msg"]), /no valid IP addresses/);
  });
  it("PODNET_TRACE=1 prints phase timings to stderr", async () => {
    const out = await invokeFuncs(recorder().funcs, about, { command: "ADD", conf, env: { PODNET_TRACE: "1" } });
    assert.match(out.stderr, /^podnet trace test ADD: startup=.* parse=.*ms .*total=/);
  });
  it("the sample plugin names the bad field and value", async () => {
    const out = await invokeFuncs(samplePlugin, SAMPLE_ABOUT, {
      command: "ADD",
      conf: { cniVersion: "1.0.0", name: "n", anotherAwesomeArg: "" },
    });
    assert.equal(out.json?.["code"], 7);
    assert.equal(out.json?.["msg"], `invalid sample config: "anotherAwesomeArg" must not be empty, got ""`);
  });
  it("the sample plugin requires prevResult", async () => {
    const out = await invokeFuncs(samplePlugin, SAMPLE_ABOUT, {
      command: "ADD",
      conf: { cniVersion: "1.0.0", name: "n", anotherAwesomeArg: "x" },
    });
    assert.equal(out.json?.["msg"], "Required prevResult missing");
  });
});
