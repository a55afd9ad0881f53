// Drop-in fidelity, results: every plugin, at every spec version, prints what Debian's Go
// reference plugins (containernetworking-plugins 1.1.1, /usr/lib/cni) print for the same input —
// the whole document, compared with its keys sorted and then byte for byte. Both implementations
// run one after the other in the same sandbox node namespace against the same pod namespace (so
// sandbox paths agree), each with its own IPAM data directory (so both allocate the same
// addresses), and every ADD is deleted again before the next. What is normalised, and why:
// fidelity-harness.ts (MACs and host veth names are random; the reference stops at 1.0.0).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ALL_SPEC_VERSIONS } from "../../src/cni/index.js";
import {
  asVersion,
  assertSameOutput,
  fidelitySkip,
  goVersionFor,
  runCall,
  type Impl,
  type Outcome,
} from "./fidelity-harness.js";
import { sh, withSandbox, type Sandbox } from "./sandbox.js";

const skip = fidelitySkip();

const is02 = (v: string) => v === "0.1.0" || v === "0.2.0";

/**
 * A prevResult as a runtime hands it on, in version `v`, with what the reference re-prints
 * differently from how it came: an unknown key, an IPv6 address in non-canonical text, and (below
 * 1.1.0, where the reference's structs have no such field) an interface MTU.
 */
function prevResult(v: string, pod: string, extra: { mtu: boolean; odd?: boolean }): Record<string, unknown> {
  const dns = { nameservers: ["10.200.50.10"], search: ["svc.cluster.local"], options: ["ndots:5"] };
  if (is02(v)) {
    return {
      cniVersion: v,
      ip4: { ip: "10.200.50.5/24", gateway: "10.200.50.1", routes: [{ dst: "0.0.0.0/0", gw: "10.200.50.1" }] },
      ip6: { ip: "fd00:0200:0050:0000::0005/64", routes: [{ dst: "::/0" }] },
      dns,
      unknownKey: 1,
    };
  }
  // odd: IPs without "version" (what Go's loopback prints below 1.0.0) and an interface index of -1.
  const ver = (f: string) => (v.startsWith("0.") && !extra.odd ? { version: f } : {});
  return {
    cniVersion: v,
    interfaces: [
      { name: "pt-h0", mac: "0a:58:0a:c8:32:01" },
      { name: "eth0", mac: "0a:58:0a:c8:32:05", sandbox: pod, ...(extra.mtu ? { mtu: 1500 } : {}) },
    ],
    ips: [
      { ...ver("4"), interface: 1, address: "10.200.50.5/24", gateway: "10.200.50.1" },
      { ...ver("6"), interface: extra.odd ? -1 : 1, address: "fd00:0200:0050:0000::0005/64" },
    ],
    routes: [{ dst: "0.0.0.0/0", gw: "10.200.50.1" }, { dst: "::/0" }],
    dns,
    unknownKey: 1,
  };
}

interface Case {
  readonly plugin: string;
  readonly label: string;
  /** The network config for one implementation at version `v`. */
  conf(sb: Sandbox, impl: Impl, v: string, pod: string): Record<string, unknown>;
  /** Sets up, afresh before each ADD, what the plugin expects to find (a veth for bandwidth). */
  prepare?(sb: Sandbox, pod: string): void;
}

const dataDir = (sb: Sandbox, impl: Impl, what: string) => join(sb.dir, `${impl}-${what}`);

const CASES: readonly Case[] = [
  { plugin: "loopback", label: "unchained", conf: (_sb, _i, v) => ({ cniVersion: v, name: "lo", type: "loopback" }) },
  {
    plugin: "loopback",
    label: "chained: passes prevResult through",
    conf: (_sb, _i, v, pod) => ({
      cniVersion: v,
      name: "lo",
      type: "loopback",
      prevResult: prevResult(v, pod, { mtu: v !== "1.1.0" }),
    }),
  },
  {
    plugin: "host-local",
    label: "two families, routes, dns from resolvConf",
    conf: (sb, impl, v) => ({
      cniVersion: v,
      name: "hl",
      type: "host-local",
      ipam: {
        type: "host-local",
        dataDir: dataDir(sb, impl, "hl"),
        ranges: [[{ subnet: "10.200.51.0/24" }], [{ subnet: "fd00:200:51::/64" }]],
        routes: [{ dst: "0.0.0.0/0" }, { dst: "192.168.0.0/16", gw: "10.200.51.254" }, { dst: "fd00:300::/48" }],
        resolvConf: join(sb.dir, "resolv.conf"),
      },
    }),
  },
  {
    plugin: "host-local",
    label: "no dns",
    conf: (sb, impl, v) => ({
      cniVersion: v,
      name: "hl",
      type: "host-local",
      ipam: { type: "host-local", dataDir: dataDir(sb, impl, "hl2"), subnet: "10.200.52.0/24" },
    }),
  },
  {
    plugin: "bridge",
    label: "gateway, host-local with routes and dns",
    conf: (sb, impl, v) => ({
      cniVersion: v,
      name: "br",
      type: "bridge",
      bridge: "pt-br0",
      isGateway: true,
      ipam: {
        type: "host-local",
        dataDir: dataDir(sb, impl, "br"),
        subnet: "10.200.53.0/24",
        routes: [{ dst: "0.0.0.0/0" }],
        resolvConf: join(sb.dir, "resolv.conf"),
      },
    }),
  },
  {
    plugin: "portmap",
    label: "two hostPorts, prevResult re-printed",
    conf: (_sb, _i, v, pod) => ({
      cniVersion: v,
      name: "pm",
      type: "portmap",
      capabilities: { portMappings: true },
      runtimeConfig: {
        portMappings: [
          { hostPort: 18080, containerPort: 80, protocol: "tcp" },
          { hostPort: 18053, containerPort: 53, protocol: "udp" },
        ],
      },
      prevResult: prevResult(v, pod, { mtu: v !== "1.1.0" }),
    }),
  },
  {
    plugin: "portmap",
    label: "no hostPorts: prevResult passed through",
    conf: (_sb, _i, v, pod) => ({
      cniVersion: v,
      name: "pm",
      type: "portmap",
      prevResult: prevResult(v, pod, { mtu: v !== "1.1.0" }),
    }),
  },
  {
    plugin: "portmap",
    label: "no hostPorts: a prevResult with IPs without version, and an interface index of -1",
    conf: (_sb, _i, v, pod) => ({
      cniVersion: v,
      name: "pm",
      type: "portmap",
      prevResult: prevResult(v, pod, { mtu: false, odd: true }),
    }),
  },
  {
    plugin: "loopback",
    label: "chained: a prevResult with IPs without version, and an interface index of -1",
    conf: (_sb, _i, v, pod) => ({
      cniVersion: v,
      name: "lo",
      type: "loopback",
      prevResult: prevResult(v, pod, { mtu: false, odd: true }),
    }),
  },
  {
    plugin: "bandwidth",
    label: "shaping both ways: the ifb joins the result",
    // A new veth each time: Go's DEL leaves its qdisc on the host end (bridge's DEL removes the veth).
    prepare: (sb, pod) => {
      spawnSync("ip", ["-n", sb.node, "link", "del", "pt-h0"]);
      sh("ip", ["-n", sb.node, "link", "add", "pt-h0", "type", "veth", "peer", "name", "eth0", "netns", pod]);
    },
    conf: (_sb, _i, v, pod) => ({
      cniVersion: v,
      name: "bw",
      type: "bandwidth",
      ingressRate: 8_000_000,
      ingressBurst: 100_000,
      egressRate: 8_000_000,
      egressBurst: 100_000,
      prevResult: prevResult(v, pod, { mtu: v !== "1.1.0" }),
    }),
  },
  {
    plugin: "bandwidth",
    label: "no limits: prevResult passed through",
    conf: (_sb, _i, v, pod) => ({
      cniVersion: v,
      name: "bw",
      type: "bandwidth",
      prevResult: prevResult(v, pod, { mtu: v !== "1.1.0" }),
    }),
  },
];

/** ADD by one implementation, then its DEL (whatever ADD answered); returns what ADD printed. */
function addThenDel(sb: Sandbox, impl: Impl, c: Case, v: string, pod: string): Outcome {
  const env = (cmd: string) => ({
    CNI_COMMAND: cmd,
    CNI_CONTAINERID: `ctr-${sb.id}`,
    CNI_NETNS: pod,
    CNI_IFNAME: "eth0",
  });
  const stdin = JSON.stringify(c.conf(sb, impl, v, pod));
  const add = runCall(sb, impl, { plugin: c.plugin, env: env("ADD"), stdin });
  const del = runCall(sb, impl, { plugin: c.plugin, env: env("DEL"), stdin });
  assert.ok(del.rc === 0 || add.rc !== 0, `${impl} ${c.plugin} DEL after a good ADD: ${del.stdout}`);
  return add;
}

describe("fidelity: results are the reference's, whole documents, at every spec version", { skip }, () => {
  for (const c of CASES) {
    it(`${c.plugin} (${c.label})`, () =>
      withSandbox(async (sb) => {
        writeFileSync(
          join(sb.dir, "resolv.conf"),
          "nameserver 10.200.50.10\ndomain example.com\nsearch a.example b.example\noptions ndots:5 timeout:2\n",
        );
        const podNs = sb.netns("pod");
        const pod = sb.path(podNs);
        for (const v of ALL_SPEC_VERSIONS) {
          c.prepare?.(sb, podNs);
          const go = addThenDel(sb, "go", c, goVersionFor(v), pod);
          c.prepare?.(sb, podNs);
          const ours = addThenDel(sb, "podnet", c, v, pod);
          assertSameOutput(ours, asVersion(go.stdout, v), go.rc, `[${v}] ${c.plugin} ADD`);
        }
      }));
  }

  it("the harness tells different documents apart (a dns-less 1.0.0 result is not the reference's)", () => {
    const go: Outcome = { rc: 0, stdout: '{\n    "cniVersion": "1.0.0",\n    "dns": {}\n}', stderr: "" };
    assert.throws(
      () => assertSameOutput({ rc: 0, stdout: '{\n    "cniVersion": "1.0.0"\n}', stderr: "" }, go.stdout, 0, "x"),
      /differs/,
    );
    assert.throws(
      () => assertSameOutput({ rc: 0, stdout: '{"dns":{},"cniVersion":"1.0.0"}', stderr: "" }, go.stdout, 0, "x"),
      /different bytes/,
    );
    assertSameOutput(go, go.stdout, 0, "x");
  });
});
