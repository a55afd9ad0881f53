// Drop-in fidelity, errors: for the usual bad inputs — missing variables, bad or incompatible
// versions, bad JSON, missing fields, CHECK/STATUS/GC on old versions, unknown commands, DEL of
// unknown containers — every plugin answers what Debian's Go reference plugins (1.1.1) answer:
// same exit code, same code, msg and details, compared as whole documents (keys sorted, then byte
// for byte). Three kinds of exceptions, each listed in README.md "Compatibility with the reference
// plugins" and pinned here:
//   - OWN_MSG: the reference answers 999 with a plain Go error text (often encoding/json's words
//     about Go types); podnet answers 999 too, without details, and its msg explains in its own
//     words — the test checks both codes and podnet's msg;
//   - INTENDED: podnet behaves differently on purpose (spec 1.1.0, the own-netns check); the test
//     pins podnet's whole answer;
//   - everything else must be identical.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ALL_SPEC_VERSIONS } from "../../src/cni/index.js";
import {
  PLUGINS,
  assertSameOutput,
  canonical,
  fidelitySkip,
  normalise,
  runCall,
  type Impl,
  type Outcome,
  type Plugin,
} from "./fidelity-harness.js";
import { withSandbox, type Sandbox } from "./sandbox.js";

const skip = fidelitySkip();

interface Ctx {
  readonly sb: Sandbox;
  readonly impl: Impl;
  /** The pod's netns path. */
  readonly pod: string;
  /** A data directory of this case and implementation. */
  readonly dir: string;
}

type Env = Record<string, string | undefined>;
interface Input {
  readonly env: Env;
  readonly stdin: string;
}

/** How podnet's answer relates to the reference's. */
type Expect =
  | { readonly kind: "same" }
  /** Both 999 without details; podnet's msg is its own (matches `msg`). */
  | { readonly kind: "ownMsg"; readonly msg: RegExp }
  /** A deliberate difference: podnet's whole answer. */
  | { readonly kind: "intended"; readonly rc: number; readonly stdout: (p: Plugin) => string };

interface Case {
  readonly name: string;
  readonly plugins: readonly Plugin[];
  /** Calls made first (by the same implementation), e.g. an ADD that fills a range. */
  readonly before?: (c: Ctx, p: Plugin) => Input[];
  readonly input: (c: Ctx, p: Plugin) => Input;
  readonly expect?: Expect | ((p: Plugin) => Expect);
}

/** podnet's own msg for a reference 999 (README: Compatibility with the reference plugins). */
const ownMsg = (msg: RegExp): Expect => ({ kind: "ownMsg", msg });

const full = (c: Ctx, cmd: string, over: Env = {}): Env => ({
  CNI_COMMAND: cmd,
  CNI_CONTAINERID: "ctr1",
  CNI_NETNS: c.pod,
  CNI_IFNAME: "eth0",
  ...over,
});

function prevResult(v: string, pod: string): Record<string, unknown> {
  if (v === "0.1.0" || v === "0.2.0") return { cniVersion: v, ip4: { ip: "10.200.70.5/24", gateway: "10.200.70.1" } };
  return {
    cniVersion: v,
    interfaces: [{ name: "eth0", sandbox: pod }],
    ips: [
      {
        ...(v.startsWith("0.") ? { version: "4" } : {}),
        interface: 0,
        address: "10.200.70.5/24",
        gateway: "10.200.70.1",
      },
    ],
  };
}

/** A good config of plugin `p` at version `v`, with `patch` applied (undefined deletes a key). */
function conf(c: Ctx, p: Plugin, v: unknown = "1.0.0", patch: Record<string, unknown> = {}): string {
  const base: Record<string, Record<string, unknown>> = {
    loopback: {},
    "host-local": { ipam: { type: "host-local", dataDir: c.dir, ranges: [[{ subnet: "10.200.71.0/24" }]] } },
    bridge: {
      bridge: "pt-fe0",
      ipam: { type: "host-local", dataDir: c.dir, ranges: [[{ subnet: "10.200.72.0/24" }]] },
    },
    portmap: {
      capabilities: { portMappings: true },
      runtimeConfig: { portMappings: [{ hostPort: 18081, containerPort: 80, protocol: "tcp" }] },
      prevResult: prevResult(typeof v === "string" ? v : "1.0.0", c.pod),
    },
    bandwidth: { prevResult: prevResult(typeof v === "string" ? v : "1.0.0", c.pod) },
  };
  const o: Record<string, unknown> = { cniVersion: v, name: "net1", type: p, ...base[p], ...patch };
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return JSON.stringify(o);
}

const ALL = PLUGINS;
const CHAINED: readonly Plugin[] = ["loopback", "portmap", "bandwidth"];
const NO_TOUCH_NETNS = ["host-local"] as const;
const supported = (p: Plugin) => ALL_SPEC_VERSIONS.filter((v) => p !== "bandwidth" || v >= "0.3.0");
const err = (code: number, msg: string) => `{\n    "code": ${code},\n    "msg": ${JSON.stringify(msg)}\n}`;

const CASES: readonly Case[] = [
  // ---- the environment ----
  {
    name: "no CNI_COMMAND: the about text goes to stderr, stdout stays empty",
    plugins: ALL,
    input: (c, p) => ({ env: {}, stdin: conf(c, p) }),
  },
  { name: "an unknown command", plugins: ALL, input: (c, p) => ({ env: full(c, "FROB"), stdin: conf(c, p) }) },
  {
    name: "an unknown command and nothing else",
    plugins: ALL,
    input: () => ({ env: { CNI_COMMAND: "FROB" }, stdin: "" }),
  },
  {
    name: "ADD with no variable but the command",
    plugins: ALL,
    input: (c, p) => ({ env: { CNI_COMMAND: "ADD", CNI_PATH: "" }, stdin: conf(c, p) }),
  },
  {
    name: "ADD without CNI_NETNS",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "ADD", { CNI_NETNS: undefined }), stdin: conf(c, p) }),
  },
  {
    name: "ADD with an empty CNI_PATH",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "ADD", { CNI_PATH: "" }), stdin: conf(c, p) }),
  },
  {
    name: "DEL without CNI_CONTAINERID",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "DEL", { CNI_CONTAINERID: undefined }), stdin: conf(c, p) }),
  },
  {
    name: "CHECK without CNI_IFNAME",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "CHECK", { CNI_IFNAME: undefined }), stdin: conf(c, p) }),
  },
  {
    name: "a container ID with a slash",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "ADD", { CNI_CONTAINERID: "a/b" }), stdin: conf(c, p) }),
  },
  {
    name: "an interface name too long",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "ADD", { CNI_IFNAME: "abcdefghijklmnop" }), stdin: conf(c, p) }),
  },
  {
    name: "an interface name with a slash",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "DEL", { CNI_IFNAME: "a/b" }), stdin: conf(c, p) }),
  },
  {
    name: "an interface name with a space",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "ADD", { CNI_IFNAME: "eth 0" }), stdin: conf(c, p) }),
  },
  {
    name: "an interface name ..",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "ADD", { CNI_IFNAME: ".." }), stdin: conf(c, p) }),
  },
  {
    name: "a bad container ID after a bad config: the config first",
    plugins: ALL,
    input: (c) => ({ env: full(c, "ADD", { CNI_CONTAINERID: "a/b" }), stdin: "{" }),
  },

  // ---- the config's JSON ----
  { name: "empty stdin", plugins: ALL, input: (c) => ({ env: full(c, "ADD"), stdin: "" }) },
  { name: "not JSON", plugins: ALL, input: (c) => ({ env: full(c, "ADD"), stdin: "not json" }) },
  { name: "JSON cut short", plugins: ALL, input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p).slice(0, 25) }) },
  { name: "JSON and then garbage", plugins: ALL, input: (c, p) => ({ env: full(c, "ADD"), stdin: `${conf(c, p)} x` }) },
  {
    name: "JSON with a byte-order mark",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "ADD"), stdin: `\ufeff${conf(c, p)}` }),
  },
  {
    name: "a bad escape in a string",
    plugins: ALL,
    input: (c) => ({ env: full(c, "ADD"), stdin: '{"name": "a\\qb"}' }),
  },
  {
    name: "a control character in a string",
    plugins: ALL,
    input: (c) => ({ env: full(c, "DEL"), stdin: '{"name": "a\tb"}' }),
  },
  { name: "an array", plugins: ALL, input: (c) => ({ env: full(c, "ADD"), stdin: "[]" }) },
  { name: "a string", plugins: ALL, input: (c) => ({ env: full(c, "ADD"), stdin: '"net1"' }) },
  { name: "null", plugins: ALL, input: (c) => ({ env: full(c, "ADD"), stdin: "null" }) },
  {
    name: "no name",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { name: undefined }) }),
  },
  {
    name: "a name that is a number",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { name: 5 }) }),
  },
  {
    name: "a name that is an object",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "DEL"), stdin: conf(c, p, "1.0.0", { name: {} }) }),
  },
  {
    name: "a name with a space",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { name: "a b" }) }),
  },
  {
    name: "the name in other case (NAME)",
    plugins: ["host-local"],
    input: (c, p) => ({ env: full(c, "DEL"), stdin: conf(c, p, "1.0.0", { name: undefined, NAME: "net1" }) }),
  },

  // ---- versions ----
  {
    name: "ADD at an unknown version",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "9.9.9") }),
  },
  {
    name: "DEL at an unknown version",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "DEL"), stdin: conf(c, p, "9.9.9") }),
  },
  {
    name: "ADD at a version that is not one",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "abc") }),
  },
  {
    name: "ADD with a version that is a number",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, 1) }),
  },
  {
    name: "ADD at 0.2.0 (bandwidth: from 0.3.0 only)",
    plugins: ["bandwidth"],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "0.2.0") }),
  },
  { name: "CHECK at 0.3.1", plugins: ALL, input: (c, p) => ({ env: full(c, "CHECK"), stdin: conf(c, p, "0.3.1") }) },
  {
    name: "CHECK without a version (0.1.0)",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "CHECK"), stdin: conf(c, p, "1.0.0", { cniVersion: undefined }) }),
  },
  {
    name: "CHECK with a null version (0.1.0)",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "CHECK"), stdin: conf(c, p, null) }),
  },
  {
    name: "the version in other case (CNIVersion)",
    plugins: ALL,
    input: (c, p) => ({
      env: full(c, "CHECK"),
      stdin: conf(c, p, "1.0.0", { cniVersion: undefined, CNIVersion: "0.3.1" }),
    }),
  },
  {
    name: "CHECK at a version that is not one",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "CHECK"), stdin: conf(c, p, "1.x") }),
  },
  {
    name: "CHECK at a version newer than any supported",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "CHECK"), stdin: conf(c, p, "9.9.9") }),
  },
  {
    name: "CHECK at an unlisted version between supported ones",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "CHECK"), stdin: conf(c, p, "0.5.0") }),
  },
  {
    name: "CHECK at too many version parts",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "CHECK"), stdin: conf(c, p, "1.0.0.0") }),
  },

  // ---- deliberate differences (README: Compatibility with the reference plugins) ----
  {
    name: "VERSION lists 1.1.0 too",
    plugins: ALL,
    input: () => ({ env: { CNI_COMMAND: "VERSION" }, stdin: "garbage" }),
    expect: {
      kind: "intended",
      rc: 0,
      stdout: (p) => `{"cniVersion":"1.1.0","supportedVersions":${JSON.stringify(supported(p))}}\n`,
    },
  },
  {
    name: "STATUS below 1.1.0: skel v1.2's answer (v1.1.1 knows no STATUS)",
    plugins: ALL,
    input: (c, p) => ({ env: { CNI_COMMAND: "STATUS" }, stdin: conf(c, p) }),
    expect: { kind: "intended", rc: 1, stdout: () => err(1, "config version does not allow STATUS") },
  },
  {
    name: "GC below 1.1.0: skel v1.2's answer",
    plugins: ALL,
    input: (c, p) => ({ env: { CNI_COMMAND: "GC" }, stdin: conf(c, p) }),
    expect: { kind: "intended", rc: 1, stdout: () => err(1, "config version does not allow GC") },
  },
  {
    name: "ADD with the plugin's own netns as CNI_NETNS is refused (skel ≥ 1.2)",
    plugins: ["loopback"],
    input: (c, p) => ({ env: full(c, "ADD", { CNI_NETNS: c.sb.path(c.sb.node) }), stdin: conf(c, p) }),
    expect: {
      kind: "intended",
      rc: 1,
      stdout: () => err(8, "plugin's netns and netns from CNI_NETNS should not be the same"),
    },
  },
  {
    name: "DEL with the plugin's own netns as CNI_NETNS is refused (skel ≥ 1.2)",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "DEL", { CNI_NETNS: c.sb.path(c.sb.node) }), stdin: conf(c, p) }),
    expect: {
      kind: "intended",
      rc: 1,
      stdout: () => err(8, "plugin's netns and netns from CNI_NETNS should not be the same"),
    },
  },
  {
    name: "ADD with the own netns and CNI_NETNS_OVERRIDE=1 goes ahead as the reference does",
    plugins: ["loopback"],
    input: (c, p) => ({
      env: full(c, "ADD", { CNI_NETNS: c.sb.path(c.sb.node), CNI_NETNS_OVERRIDE: "1" }),
      stdin: conf(c, p),
    }),
  },

  // ---- the attachment ----
  {
    name: "DEL without CNI_NETNS",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "DEL", { CNI_NETNS: undefined }), stdin: conf(c, p) }),
  },
  {
    name: "DEL of a container never added",
    plugins: ALL,
    input: (c, p) => ({ env: full(c, "DEL", { CNI_CONTAINERID: "never-added" }), stdin: conf(c, p) }),
  },
  {
    name: "CHECK of a container never added",
    plugins: ["host-local"],
    input: (c, p) => ({ env: full(c, "CHECK", { CNI_CONTAINERID: "never-added" }), stdin: conf(c, p) }),
  },
  {
    name: "ADD in a netns that does not exist",
    plugins: ["loopback", "bridge"],
    input: (c, p) => ({ env: full(c, "ADD", { CNI_NETNS: "/run/netns/podnet-t-nonexistent" }), stdin: conf(c, p) }),
    expect: ownMsg(/^failed to open netns "\/run\/netns\/podnet-t-nonexistent": (no such|not a) network namespace$/),
  },
  {
    name: "ADD with a netns path a plugin never opens",
    plugins: NO_TOUCH_NETNS,
    input: (c, p) => ({ env: full(c, "ADD", { CNI_NETNS: "/nonexistent" }), stdin: conf(c, p) }),
  },

  // ---- prevResult ----
  {
    name: "prevResult missing its cniVersion: the config's",
    plugins: CHAINED,
    input: (c, p) => ({
      env: full(c, "ADD"),
      stdin: conf(c, p, "1.0.0", { prevResult: { ...prevResult("1.0.0", c.pod), cniVersion: undefined } }),
    }),
  },
  {
    name: "a 0.4.0 prevResult under a 1.0.0 config",
    plugins: CHAINED,
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { prevResult: prevResult("0.4.0", c.pod) }) }),
    expect: ownMsg(
      /^(failed to parse prevResult: )?could not parse prevResult: result type supports \[1\.0\.0\] but unmarshalled CNIVersion is "0\.4\.0"$/,
    ),
  },
  {
    name: "a 0.3.1 prevResult under a 0.4.0 config is converted",
    plugins: CHAINED,
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "0.4.0", { prevResult: prevResult("0.3.1", c.pod) }) }),
  },
  {
    name: "ADD without prevResult",
    plugins: ["portmap"],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { prevResult: undefined }) }),
  },
  {
    name: "CHECK without prevResult",
    plugins: ["portmap", "bandwidth"],
    input: (c, p) => ({ env: full(c, "CHECK"), stdin: conf(c, p, "1.0.0", { prevResult: undefined }) }),
  },

  // ---- plugin configs ----
  {
    name: "host-local without ipam",
    plugins: ["host-local"],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { ipam: undefined }) }),
  },
  {
    name: "host-local without ranges",
    plugins: ["host-local"],
    input: (c, p) => ({
      env: full(c, "ADD"),
      stdin: conf(c, p, "1.0.0", { ipam: { type: "host-local", dataDir: c.dir } }),
    }),
  },
  {
    name: "host-local with a range that is full",
    plugins: ["host-local"],
    before: (c, p) => [
      {
        env: full(c, "ADD", { CNI_CONTAINERID: "first" }),
        stdin: conf(c, p, "1.0.0", {
          ipam: { type: "host-local", dataDir: c.dir, ranges: [[{ subnet: "10.200.73.0/30" }]] },
        }),
      },
    ],
    input: (c, p) => ({
      env: full(c, "ADD"),
      stdin: conf(c, p, "1.0.0", {
        ipam: { type: "host-local", dataDir: c.dir, ranges: [[{ subnet: "10.200.73.0/30" }]] },
      }),
    }),
  },
  {
    name: "host-local ADD of a container that has an address",
    plugins: ["host-local"],
    before: (c, p) => [{ env: full(c, "ADD"), stdin: conf(c, p) }],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p) }),
  },
  {
    name: "bridge with an IPAM plugin that is not there",
    plugins: ["bridge"],
    // One CNI_PATH for both: the message names it.
    input: (c, p) => ({
      env: full(c, "ADD", { CNI_PATH: c.sb.dir }),
      stdin: conf(c, p, "1.0.0", { ipam: { type: "podnet-t-nope" } }),
    }),
  },
  {
    name: "portmap without port mappings: prevResult passed through",
    plugins: ["portmap"],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { runtimeConfig: {} }) }),
  },
  {
    name: "bandwidth without limits: prevResult passed through",
    plugins: ["bandwidth"],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "0.3.1", { prevResult: prevResult("0.3.1", c.pod) }) }),
  },
  {
    name: "bandwidth with limits but without prevResult",
    plugins: ["bandwidth"],
    input: (c, p) => ({
      env: full(c, "ADD"),
      stdin: conf(c, p, "1.0.0", { prevResult: undefined, ingressRate: 1_000_000, ingressBurst: 100_000 }),
    }),
  },
  {
    name: "bandwidth without limits and without prevResult: the reference crashes (nil pointer), podnet answers",
    plugins: ["bandwidth"],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { prevResult: undefined }) }),
    expect: { kind: "intended", rc: 1, stdout: () => err(999, "must be called as chained plugin") },
  },
  {
    name: "a prevResult that is not an object",
    plugins: ["loopback", "bridge", "portmap", "bandwidth"],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { prevResult: "x" }) }),
    expect: ownMsg(/prevResult"? must be (a JSON object|Object), got "x"$/),
  },
  {
    name: "DEL with a prevResult that is not an object (loopback's DEL reads no config)",
    plugins: CHAINED,
    input: (c, p) => ({ env: full(c, "DEL"), stdin: conf(c, p, "1.0.0", { prevResult: "x" }) }),
    expect: (p) =>
      p === "loopback" ? { kind: "same" } : ownMsg(/prevResult"? must be (a JSON object|Object), got "x"$/),
  },
  {
    name: "a prevResult with a bad address",
    plugins: CHAINED,
    input: (c, p) => ({
      env: full(c, "ADD"),
      stdin: conf(c, p, "1.0.0", { prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.200.70.5" }] } }),
    }),
    expect: ownMsg(
      /could not parse prevResult: result \(1\.0\.0\) ips\[0\]: "address" must be a CIDR like 10\.1\.0\.5\/16, got "10\.200\.70\.5"$/,
    ),
  },
  {
    name: "host-local with a bad subnet",
    plugins: ["host-local"],
    input: (c, p) => ({
      env: full(c, "ADD"),
      stdin: conf(c, p, "1.0.0", {
        ipam: { type: "host-local", dataDir: c.dir, ranges: [[{ subnet: "10.200.74.0/33" }]] },
      }),
    }),
    expect: ownMsg(/invalid range "10\.200\.74\.0\/33": prefix length 33 is greater than 32 for IPv4$/),
  },
  {
    name: "host-local with a gateway outside the subnet",
    plugins: ["host-local"],
    input: (c, p) => ({
      env: full(c, "ADD"),
      stdin: conf(c, p, "1.0.0", {
        ipam: { type: "host-local", dataDir: c.dir, ranges: [[{ subnet: "10.200.74.0/24", gateway: "10.200.75.1" }]] },
      }),
    }),
  },
  {
    name: "bridge with a VLAN out of range",
    plugins: ["bridge"],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { vlan: 5000 }) }),
    expect: ownMsg(/^invalid bridge config: "vlan" must be 0\.\.4094, got 5000$/),
  },
  {
    name: "bridge with hairpin and promiscuous mode",
    plugins: ["bridge"],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { hairpinMode: true, promiscMode: true }) }),
    expect: ownMsg(/^invalid bridge config: cannot set hairpin mode and promiscuous mode at the same time$/),
  },
  {
    name: "bridge with an MTU that is a string",
    plugins: ["bridge"],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { mtu: "1500" }) }),
    expect: ownMsg(/^invalid bridge config: "mtu" must be number, got "1500"$/),
  },
  {
    name: "portmap with host port 0",
    plugins: ["portmap"],
    input: (c, p) => ({
      env: full(c, "ADD"),
      stdin: conf(c, p, "1.0.0", {
        runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 80, protocol: "tcp" }] },
      }),
    }),
    expect: ownMsg(/^invalid portmap config: "runtimeConfig\.portMappings\.0\.hostPort" must be 1\.\.65535, got 0$/),
  },
  {
    name: "portmap with container port 70000",
    plugins: ["portmap"],
    input: (c, p) => ({
      env: full(c, "ADD"),
      stdin: conf(c, p, "1.0.0", {
        runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 70000, protocol: "tcp" }] },
      }),
    }),
    expect: ownMsg(
      /^invalid portmap config: "runtimeConfig\.portMappings\.0\.containerPort" must be 1\.\.65535, got 70000$/,
    ),
  },
  {
    name: "portmap with markMasqBit 40",
    plugins: ["portmap"],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { markMasqBit: 40 }) }),
    expect: ownMsg(/^invalid portmap config: "markMasqBit" must be between 0 and 31, got 40$/),
  },
  {
    name: "portmap with markMasqBit and externalSetMarkChain",
    plugins: ["portmap"],
    input: (c, p) => ({
      env: full(c, "DEL"),
      stdin: conf(c, p, "1.0.0", { markMasqBit: 13, externalSetMarkChain: "KUBE-MARK-MASQ" }),
    }),
    expect: ownMsg(/^invalid portmap config: Cannot specify externalSetMarkChain and markMasqBit$/),
  },
  {
    name: "bandwidth with a rate and no burst",
    plugins: ["bandwidth"],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { ingressRate: 1_000_000 }) }),
    expect: ownMsg(
      /^invalid bandwidth config: "ingressRate" is 1000000 but "ingressBurst" is 0: if rate is set, burst must also be set$/,
    ),
  },
  {
    name: "bandwidth with a burst and no rate",
    plugins: ["bandwidth"],
    input: (c, p) => ({ env: full(c, "ADD"), stdin: conf(c, p, "1.0.0", { egressBurst: 1_000_000 }) }),
    expect: ownMsg(
      /^invalid bandwidth config: "egressBurst" is 1000000 but "egressRate" is 0: if burst is set, rate must also be set$/,
    ),
  },
  {
    name: "bandwidth with a burst over 4GB",
    plugins: ["bandwidth"],
    input: (c, p) => ({
      env: full(c, "DEL"),
      stdin: conf(c, p, "1.0.0", { egressRate: 1_000_000, egressBurst: 40_000_000_000 }),
    }),
    expect: ownMsg(/^invalid bandwidth config: "egressBurst" is 40000000000: burst cannot be more than 4GB$/),
  },
  {
    name: "bandwidth with limits and no host interface in prevResult",
    plugins: ["bandwidth"],
    input: (c, p) => ({
      env: full(c, "ADD"),
      stdin: conf(c, p, "1.0.0", { ingressRate: 1_000_000, ingressBurst: 100_000 }),
    }),
  },
];

/**
 * Runs `input` (after `before`) for one implementation, then undoes it as a runtime would: DEL
 * after every ADD, failed or not, and (for what a failed DEL leaves: v1.1.1's bridge keeps the
 * veth when IPAM fails) the pod's eth0 removed.
 */
function run(c: Ctx, p: Plugin, k: Case): Outcome {
  const calls = [...(k.before?.(c, p) ?? []), k.input(c, p)];
  const outs = calls.map((i) => runCall(c.sb, c.impl, { plugin: p, env: i.env, stdin: i.stdin }));
  for (const i of calls) {
    if (i.env["CNI_COMMAND"] === "ADD")
      runCall(c.sb, c.impl, { plugin: p, env: { ...i.env, CNI_COMMAND: "DEL" }, stdin: i.stdin });
  }
  spawnSync("ip", ["-n", c.pod.split("/").pop()!, "link", "del", "eth0"]);
  return outs.at(-1)!;
}

describe("fidelity: errors are the reference's, word for word", { skip }, () => {
  for (const p of PLUGINS) {
    it(p, () =>
      withSandbox(async (sb) => {
        const pod = sb.path(sb.netns("pod"));
        const failures: string[] = [];
        let ran = 0;
        for (const [i, k] of CASES.entries()) {
          if (!k.plugins.includes(p)) continue;
          const ctx = (impl: Impl): Ctx => ({ sb, impl, pod, dir: join(sb.dir, `${impl}-${i}`) });
          const go = run(ctx("go"), p, k);
          const ours = run(ctx("podnet"), p, k);
          const expect = (typeof k.expect === "function" ? k.expect(p) : k.expect) ?? { kind: "same" };
          ran++;
          try {
            if (expect.kind === "same") assertSameOutput(ours, go.stdout, go.rc, k.name);
            else if (expect.kind === "intended") {
              assert.equal(ours.stdout, expect.stdout(p), k.name);
              assert.equal(ours.rc, expect.rc, k.name);
            } else {
              const g = JSON.parse(go.stdout) as Record<string, unknown>;
              const o = JSON.parse(ours.stdout) as Record<string, unknown>;
              assert.deepEqual(
                [ours.rc, Object.keys(o), o["code"]],
                [go.rc, Object.keys(g), g["code"]],
                `${k.name}: rc and fields`,
              );
              assert.equal(o["code"], 999, k.name);
              assert.match(String(o["msg"]), expect.msg, k.name);
            }
          } catch (e) {
            failures.push(`${(e as Error).message}\n  reference: ${canonical(normalise(go.stdout))}`);
          }
        }
        if (failures.length)
          throw new Error(`${failures.length} of ${ran} case(s) differ:\n\n${failures.join("\n\n")}`);
        assert.ok(ran > 40, `only ${ran} cases ran`);
      }),
    );
  }

  it("a difference in any of code, msg or details fails", () => {
    const go = err(1, "config version does not allow CHECK");
    const withDetails = `{\n    "code": 1,\n    "msg": "config version does not allow CHECK",\n    "details": "config is \\"0.3.1\\", CHECK needs ≥ 0.4.0"\n}`;
    assert.throws(() => assertSameOutput({ rc: 1, stdout: withDetails, stderr: "" }, go, 1, "x"), /differs/);
    assert.throws(
      () => assertSameOutput({ rc: 1, stdout: err(4, "config version does not allow CHECK"), stderr: "" }, go, 1, "x"),
      /differs/,
    );
    assert.throws(
      () => assertSameOutput({ rc: 1, stdout: err(1, "config version does not allow check"), stderr: "" }, go, 1, "x"),
      /differs/,
    );
  });
});
