// `podnet node --network-plugin=kubenet` with Debian's Go bridge/host-local/loopback, in a sandbox
// node namespace: the pod CIDR event, the MTU rule, cbr0, the masquerade rule, hostPorts, shaping,
// dual stack, and a restart with existing pods.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { GO_PLUGINS, haveRoot, inNs, sh, withSandbox, type Sandbox } from "./sandbox.js";
import { deleteDaemonNetns, startDaemon } from "../../src/netmgr/testing/daemon.js";
import type { ApiError } from "../../src/netmgr/daemon/api-client.js";
import { serveOnce, tcpGet } from "./netmgr-tools.test.js";

const skip = haveRoot() ? false : "needs root (network namespaces)";

/** A veth pair in the node netns as its "uplink": eth0 (MTU `mtu`, the node IP) and eth0p (MTU 9000). */
function nodeUplink(sb: Sandbox, mtu = 1400): void {
  sh("ip", ["-n", sb.node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]);
  sh("ip", ["-n", sb.node, "link", "set", "eth0p", "mtu", "9000", "up"]);
  sh("ip", ["-n", sb.node, "link", "set", "eth0", "mtu", String(mtu), "up"]);
  sh("ip", ["-n", sb.node, "addr", "add", "10.200.255.1/24", "dev", "eth0"]);
}

const args = (extra: string[] = []) => [
  "--network-plugin=kubenet",
  `--kubenet-bin-dir=${GO_PLUGINS}`,
  `--cni-bin-dir=${GO_PLUGINS}`,
  ...extra,
];
const leases = (sb: Sandbox) => {
  const d = join(sb.dir, "n", "ipam", "kubenet");
  return existsSync(d)
    ? readdirSync(d)
        .filter((f) => /^[0-9a-f.:]+$/.test(f) && /[.:]/.test(f))
        .sort()
    : [];
};

const WEB = {
  metadata: { name: "web", annotations: { "kubernetes.io/ingress-bandwidth": "5M" } },
  spec: { containers: [{ name: "nginx", ports: [{ containerPort: 80, hostPort: 8080 }] }] },
};

describe("podnet node: kubenet", { skip }, () => {
  it("not ready until the pod CIDR; then cbr0 with the smallest MTU, the masquerade rule, hostPorts, shaping; restart keeps pods", () =>
    withSandbox(async (sb) => {
      nodeUplink(sb);
      const dir = join(sb.dir, "n");
      let d = await startDaemon({ netns: sb.node, dir, args: args() });
      try {
        let info = await d.client.node();
        assert.equal(info["ready"], false);
        assert.match(
          String(info["message"]),
          /kubenet does not have netConfig. This is most likely due to lack of PodCIDR/,
        );
        assert.deepEqual(info["mtu"], { mtu: 1400, source: "interface", from: "eth0" });
        await assert.rejects(d.client.addPod(WEB), (e: ApiError) => e.status === 503);
        await assert.rejects(
          d.client.setPodCIDR("10.200.3.0/33"),
          (e: ApiError) => e.status === 400 && /"10.200.3.0\/33" is not a CIDR/.test(e.message),
        );
        await d.client.setPodCIDR("10.200.3.7/24");
        info = await d.client.node();
        assert.equal(info["ready"], true, JSON.stringify(info));
        assert.equal(info["pluginDir"], GO_PLUGINS);
        assert.equal(info["pluginMode"], "exec", "Go's plugins are exec'd");

        // the masquerade rule, with the kubelet's comment, once
        const nat = () => inNs(sb.node, ["iptables-save", "-t", "nat"]).out;
        assert.equal(
          nat()
            .split("\n")
            .filter((l) => l.includes('"kubenet: SNAT for outbound traffic from cluster"')).length,
          1,
        );
        assert.match(
          nat(),
          /-A POSTROUTING ! -d 10\.0\.0\.0\/8 -m comment --comment "kubenet: SNAT for outbound traffic from cluster" -m addrtype ! --dst-type LOCAL -j MASQUERADE/,
        );

        const web = await d.client.addPod(WEB);
        const db = await d.client.addPod({ metadata: { name: "db" }, spec: { containers: [{ name: "c" }] } });
        assert.deepEqual([web.ips, db.ips], [["10.200.3.2"], ["10.200.3.3"]]);
        // cbr0: the gateway address, promiscuous (hairpin mode promiscuous-bridge), MTU 1400 on it and on the veths
        const cbr0 = sb.ipJson(sb.node, ["-4", "-d", "addr", "show", "cbr0"])[0] as {
          mtu: number;
          flags: string[];
          addr_info: Array<{ local: string; prefixlen: number }>;
        };
        assert.equal(cbr0.mtu, 1400);
        assert.ok(cbr0.flags.includes("PROMISC"));
        assert.deepEqual(
          cbr0.addr_info.map((a) => `${a.local}/${a.prefixlen}`),
          ["10.200.3.1/24"],
        );
        const eth0 = sb.ipJson(web.netns.replace("/run/netns/", ""), ["link", "show", "eth0"])[0] as { mtu: number };
        assert.equal(eth0.mtu, 1400);
        assert.match(
          inNs(sb.node, ["ebtables", "-t", "filter", "-L", "KUBE-DEDUP"]).out,
          /--ip-src 10\.200\.3\.0\/24 -j DROP/,
        );
        // pod → pod, and the pod reaches the node through the gateway
        const webNs = web.netns.replace("/run/netns/", "");
        assert.equal(inNs(webNs, ["ping", "-c1", "-W2", "10.200.3.3"]).status, 0, "pod → pod");
        assert.equal(inNs(webNs, ["ping", "-c1", "-W2", "10.200.255.1"]).status, 0, "pod → node");
        // shaping: an HTB class at 5 Mbit/s and a filter for the pod's address on cbr0
        assert.match(inNs(sb.node, ["tc", "class", "show", "dev", "cbr0"]).out, /class htb 1:1 .*rate 5Mbit/);
        assert.match(inNs(sb.node, ["tc", "filter", "show", "dev", "cbr0"]).out, /match 0ac80302\/ffffffff at 16/);
        // hostPort: the kubelet's chains, the node reaches the pod, a second claim is refused
        assert.match(
          nat(),
          /-A KUBE-HOSTPORTS -p tcp -m comment --comment "web_default hostport 8080" -m tcp --dport 8080 -j KUBE-HP-[A-Z2-7]{16}/,
        );
        const srv = serveOnce(webNs, 80, "hello from web");
        try {
          assert.equal(await tcpGet(sb.node, "10.200.255.1", 8080), "hello from web");
        } finally {
          srv.kill();
        }
        await assert.rejects(
          d.client.addPod({ ...WEB, metadata: { name: "web2" } }),
          (e: ApiError) =>
            e.status === 409 && /hostPort 8080\/TCP is already used by pod "default\/web"/.test(e.message),
        );
        // the port is held: a host process cannot take it
        assert.notEqual(
          inNs(sb.node, [
            process.execPath,
            "-e",
            "require('net').createServer().listen(8080).on('error',()=>process.exit(3)).on('listening',()=>process.exit(0))",
          ]).status,
          0,
        );

        // restart: pods survive; db dies while the daemon is down
        assert.equal(await d.stop(), 0);
        sh("ip", ["netns", "del", db.netns.replace("/run/netns/", "")]);
        d = await startDaemon({ netns: sb.node, dir, args: args() });
        info = await d.client.node();
        assert.equal(info["ready"], true, "the saved pod CIDR is re-sent");
        assert.deepEqual(
          (await d.client.listPods()).map((p) => p.name),
          ["web"],
        );
        assert.match(d.log(), /"reattached":\["default\/web"\],"tornDown":\["default\/db"\]/);
        assert.deepEqual(leases(sb), ["10.200.3.2"], "db's lease is released");
        assert.deepEqual((await d.client.podStatus("default", "web")).status, {
          ip: "10.200.3.2",
          ips: ["10.200.3.2"],
        });
        const srv2 = serveOnce(webNs, 80, "still here");
        try {
          assert.equal(await tcpGet(sb.node, "10.200.255.1", 8080), "still here", "hostPort after restart");
        } finally {
          srv2.kill();
        }
        await d.client.deletePod("default", "web");
        assert.deepEqual(leases(sb), []);
        assert.doesNotMatch(nat(), /KUBE-HP-/);
        assert.doesNotMatch(inNs(sb.node, ["tc", "filter", "show", "dev", "cbr0"]).out, /match/);
        assert.equal(existsSync(web.netns), false);
      } finally {
        await d.stop();
        deleteDaemonNetns(join(dir, "state"));
      }
    }));

  it("dual stack pod CIDR, --network-plugin-mtu, hairpin-veth, no masquerade with 0.0.0.0/0", () =>
    withSandbox(async (sb) => {
      nodeUplink(sb, 9000);
      const d = await startDaemon({
        netns: sb.node,
        dir: join(sb.dir, "n"),
        args: args([
          "--pod-cidr=10.200.4.0/24,fd00:200:4::/64",
          "--network-plugin-mtu=1300",
          "--hairpin-mode=hairpin-veth",
          "--non-masquerade-cidr=0.0.0.0/0",
        ]),
      });
      try {
        const a = await d.client.addPod({
          metadata: { name: "a" },
          spec: { containers: [{ name: "c", ports: [{ containerPort: 80, hostPort: 9090 }] }] },
        });
        const b = await d.client.addPod({ metadata: { name: "b" }, spec: { containers: [{ name: "c" }] } });
        assert.equal(a.ips.length, 2);
        assert.match(a.ips[0]!, /^10\.200\.4\.\d+$/, "IPv4 first");
        assert.match(a.ips[1]!, /^fd00:200:4::/);
        const aNs = a.netns.replace("/run/netns/", "");
        assert.equal(inNs(aNs, ["ping", "-6", "-c1", "-W2", b.ips[1]!]).status, 0, "pod → pod over IPv6 (DAD off)");
        const cbr0 = sb.ipJson(sb.node, ["link", "show", "cbr0"])[0] as { mtu: number; flags: string[] };
        assert.equal(cbr0.mtu, 1300);
        assert.ok(!cbr0.flags.includes("PROMISC"));
        const port = sb.ipJson(sb.node, ["-d", "link", "show", "master", "cbr0"])[0] as {
          linkinfo?: { info_slave_data?: { hairpin?: boolean } };
        };
        assert.equal(port.linkinfo?.info_slave_data?.hairpin, true);
        assert.doesNotMatch(inNs(sb.node, ["iptables-save", "-t", "nat"]).out, /kubenet: SNAT/);
        // one hostport chain per family: iptables DNATs to the IPv4 address, ip6tables to the IPv6 one
        assert.match(
          inNs(sb.node, ["iptables-save", "-t", "nat"]).out,
          new RegExp(`--to-destination ${a.ips[0]!.replace(/\./g, "\\.")}:80`),
        );
        assert.match(
          inNs(sb.node, ["ip6tables-save", "-t", "nat"]).out,
          new RegExp(`--to-destination \\[${a.ips[1]}\\]:80`),
        );
        await d.client.deletePod("default", "a");
        await d.client.deletePod("default", "b");
      } finally {
        await d.stop();
        deleteDaemonNetns(join(sb.dir, "n", "state"));
      }
    }));
});
