import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configFileArgs, configKeys, loadNodeOptions, MAX_NODE_CONFIG_BYTES, readConfigFile } from "./node-config.js";
import { NODE_FLAGS, parseNodeArgs } from "./options.js";

const EXAMPLE = new URL("../../../../docs/node-config.example.yaml", import.meta.url);
/** Checks the error's message (without its "UsageError: " prefix) against `re`. */
const message = (re: RegExp) => (e: Error) => {
  assert.match(e.message, re);
  return true;
};
const files = (m: Record<string, string>) => (p: string) => {
  if (!(p in m)) throw new Error(`no such file ${p}`);
  return m[p]!;
};

describe("podnet node --config", () => {
  it("every flag but --config is a key, under the flag's own name", () => {
    assert.deepEqual(
      configKeys(),
      Object.keys(NODE_FLAGS).filter((k) => k !== "config"),
    );
    assert.ok(configKeys().includes("network-plugin") && configKeys().includes("metrics-bind-address"));
  });
  it("typed values become the flags' values", () => {
    const text = [
      "network-plugin: kubenet",
      "pod-cidr: [10.200.3.0/24, 'fd00:200:3::/64']",
      "cni-bin-dir: /opt/cni/bin,/usr/lib/cni",
      "network-plugin-mtu: 1450",
      "modprobe: false",
      "metrics-bind-address: 127.0.0.1:10256",
      "socket-group: '1000'",
    ].join("\n");
    const o = loadNodeOptions(["--config", "/etc/podnet/node.yaml"], {
      read: files({ "/etc/podnet/node.yaml": text }),
    });
    assert.equal(o.networkPlugin, "kubenet");
    assert.equal(o.podCIDR, "10.200.3.0/24,fd00:200:3::/64");
    assert.deepEqual(o.cniBinDirs, ["/opt/cni/bin", "/usr/lib/cni"]);
    assert.equal(o.networkPluginMtu, 1450);
    assert.equal(o.modprobe, false);
    assert.deepEqual(o.metricsBindAddress, { host: "127.0.0.1", port: 10256 });
    assert.equal(o.socketGroup, "1000");
    assert.equal(o.hairpinMode, "promiscuous-bridge", "a key left out keeps the flag's default");
  });
  it("flags given on the command line override the file, in either form", () => {
    const read = files({
      "/c.yaml": "network-plugin: kubenet\nnetwork-plugin-mtu: 1450\nmodprobe: false\nlog-level: debug\n",
    });
    const o = loadNodeOptions(
      ["--network-plugin=cni", "--config=/c.yaml", "--network-plugin-mtu", "9000", "--modprobe"],
      { read },
    );
    assert.deepEqual([o.networkPlugin, o.networkPluginMtu, o.modprobe, o.logLevel], ["cni", 9000, true, "debug"]);
  });
  it("the parser is the caller's (the daemon adds what it knows of the host): it gets the file's flags, then argv's", () => {
    const seen: string[][] = [];
    loadNodeOptions(["--config=/c.yaml", "--log-level=debug"], {
      read: files({ "/c.yaml": "log-level: warn\nmodprobe: false\n" }),
      parse: (a) => {
        seen.push([...a]);
        return parseNodeArgs(a);
      },
    });
    assert.deepEqual(seen, [["--log-level=warn", "--modprobe=false", "--config=/c.yaml", "--log-level=debug"]]);
  });
  it("no --config (or an empty one): the flags alone; an empty file sets nothing", () => {
    assert.deepEqual(
      loadNodeOptions(["--pod-cidr=10.200.0.0/24"], { read: files({}) }),
      parseNodeArgs(["--pod-cidr=10.200.0.0/24"]),
    );
    assert.deepEqual(
      loadNodeOptions(["--config=/e.yaml"], { read: files({ "/e.yaml": "# nothing yet\n" }) }),
      parseNodeArgs([]),
    );
  });
  const bad: Array<[string, RegExp]> = [
    ["networkPlugin: kubenet", /^--config \/c\.yaml: unknown key "networkPlugin" \(did you mean "network-plugin"\?\)$/],
    [
      "makeIptablesUtilChains: true",
      /unknown key "makeIptablesUtilChains" \(did you mean "make-iptables-util-chains"\?\)/,
    ],
    ["pod-cider: 10.0.0.0/24", /unknown key "pod-cider" \(did you mean "pod-cidr"\?\)/],
    [
      "kubeconfig: /etc/k",
      /unknown key "kubeconfig" \(the keys are the flags of `podnet node --help`, without the dashes\)/,
    ],
    ["config: /other.yaml", /config: a config file cannot name another/],
    ["modprobe: yes", /^--config \/c\.yaml: modprobe: must be true or false, got "yes"$/],
    ["network-plugin-mtu: '1450'", /network-plugin-mtu: must be an integer, got "1450"/],
    ["network-plugin-mtu: 1450.5", /network-plugin-mtu: must be an integer, got 1450.5/],
    ["socket-group: 1000", /socket-group: must be a string, got 1000 \(quote it for a string: "1000"\)/],
    ["cni-bin-dir: [/a, 3]", /cni-bin-dir: must be a string or a list of strings, got \["\/a",3\]/],
    ["pod-cidr:", /pod-cidr: has no value \(leave the key out for the default\)/],
    ["- network-plugin", /must be a mapping of flag names to values, got \["network-plugin"\]/],
    [
      "network-plugin: a\nnetwork-plugin: b",
      /cannot parse the config file as YAML \(line 2, column 1\): Map keys must be unique/,
    ],
    ["a: [[[[", /cannot parse the config file as YAML/],
    ["a: 1\n---\nb: 2", /the config file holds 2 documents; expected one/],
    // the flag's own check, said of the file's key
    ["pod-cidr: 10.0.0.0/33", /^--config \/c\.yaml: pod-cidr: "10\.0\.0\.0\/33" is not a CIDR/],
    ["metrics-bind-address: ':10256'", /^--config \/c\.yaml: metrics-bind-address: ":10256" has no host/],
    ["hairpin-mode: on", /^--config \/c\.yaml: hairpin-mode: unknown value: "on"/],
  ];
  for (const [text, re] of bad) {
    it(`refuses ${JSON.stringify(text)}`, () =>
      assert.throws(() => loadNodeOptions(["--config", "/c.yaml"], { read: files({ "/c.yaml": text }) }), message(re)));
  }
  it("a bad value on the command line is still reported as the flag", () => {
    assert.throws(
      () =>
        loadNodeOptions(["--config=/c.yaml", "--pod-cidr=bogus"], {
          read: files({ "/c.yaml": "pod-cidr: 10.200.0.0/24" }),
        }),
      message(/^--pod-cidr: "bogus" is not a CIDR/),
    );
  });
  it("deep nesting and alias bombs are refused before they cost anything", () => {
    assert.throws(
      () => configFileArgs(`a: ${"[".repeat(5000)}`, "/c.yaml"),
      /the config file nests deeper than 100 levels/,
    );
    const bomb = [
      "a: &a [x, x, x, x, x, x, x, x, x]",
      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
      "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
    ].join("\n");
    assert.throws(() => configFileArgs(bomb, "/c.yaml"), /cannot use the config file: Excessive alias count/);
  });
  it("the file is read within its bound, and only a regular file", () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-t-config-"));
    try {
      writeFileSync(join(dir, "big.yaml"), `# ${"x".repeat(MAX_NODE_CONFIG_BYTES)}\n`);
      assert.throws(() => readConfigFile(join(dir, "big.yaml")), /--config .*big\.yaml: larger than 256 KiB/);
      assert.throws(() => readConfigFile(dir), /--config .*: cannot read it: .* is not a regular file/);
      assert.throws(() => readConfigFile(join(dir, "nope.yaml")), /--config .*nope\.yaml: cannot read it: ENOENT/);
      assert.throws(() => readConfigFile("/dev/zero"), /is not a regular file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("the documented example (docs/node-config.example.yaml) is valid and names every flag", () => {
    const text = readFileSync(EXAMPLE, "utf8");
    const args = configFileArgs(text, "node-config.example.yaml");
    const o = parseNodeArgs(args);
    assert.equal(o.networkPlugin, "kubenet");
    // every key is in the example, set or commented out with its default; and nothing else is
    for (const k of configKeys())
      assert.match(text, new RegExp(`^#? ?${k}:`, "m"), `${k} is documented in the example`);
    const named = [...text.matchAll(/^#? ?([a-z][a-z0-9-]*):/gm)].map((m) => m[1]!);
    assert.deepEqual(
      named.filter((k) => !(configKeys() as string[]).includes(k)),
      [],
      "keys in the example that are no flags",
    );
  });
});
