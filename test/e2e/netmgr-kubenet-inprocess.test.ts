// `podnet node --network-plugin=kubenet` with podnet's own bridge/host-local/loopback run inside the
// daemon (the default when kubenet's bin dir holds podnet's bundles): pods ping, hostPort and
// shaping work, no plugin process is started, a restart re-attaches, teardown leaves nothing; and
// --in-process-plugins=false execs the same bundles.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { haveRoot, inNs, PODNET_PLUGINS, sh, withSandbox, type Sandbox } from "./sandbox.js";
import { deleteDaemonNetns, startDaemon } from "../../src/netmgr/testing/daemon.js";
import { serveOnce, tcpGet } from "./netmgr-tools.test.js";

const skip = !haveRoot()
  ? "needs root (network namespaces)"
  : !existsSync(join(PODNET_PLUGINS, "bridge"))
    ? "build/cni not built"
    : false;

function nodeUplink(sb: Sandbox): void {
  sh("ip", ["-n", sb.node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]);
  sh("ip", ["-n", sb.node, "link", "set", "eth0p", "up"]);
  sh("ip", ["-n", sb.node, "link", "set", "eth0", "up"]);
  sh("ip", ["-n", sb.node, "addr", "add", "10.200.255.1/24", "dev", "eth0"]);
}

const args = (extra: string[] = []) => [
  "--network-plugin=kubenet",
  `--kubenet-bin-dir=${PODNET_PLUGINS}`,
  "--cni-bin-dir=/usr/lib/cni",
  "--pod-cidr=10.200.6.0/24",
  ...extra,
];
const WEB = {
  metadata: {
    name: "web",
    annotations: { "kubernetes.io/ingress-bandwidth": "5M", "kubernetes.io/egress-bandwidth": "3M" },
  },
  spec: { containers: [{ name: "nginx", ports: [{ containerPort: 80, hostPort: 8080 }] }] },
};
const DB = {
  metadata: { name: "db" },
  spec: { containers: [{ name: "c", ports: [{ containerPort: 5432, hostPort: 5432 }] }] },
};

describe("podnet node: kubenet with podnet's plugins in-process", { skip }, () => {
  it("pods ping, hostPort and shaping work without a plugin process; restart re-attaches; teardown is clean", () =>
    withSandbox(async (sb) => {
      nodeUplink(sb);
      const dir = join(sb.dir, "n");
      const leases = () => {
        const d = join(dir, "ipam", "kubenet");
        return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
      };
      let d = await startDaemon({ netns: sb.node, dir, args: args() });
      try {
        let info = await d.client.node();
        assert.equal(info["ready"], true, JSON.stringify(info));
        assert.equal(info["pluginDir"], PODNET_PLUGINS);
        assert.equal(info["pluginMode"], "in-process");

        const web = await d.client.addPod(WEB);
        const db = await d.client.addPod(DB);
        assert.deepEqual([web.ips, db.ips], [["10.200.6.2"], ["10.200.6.3"]]);
        assert.equal(typeof web.setupMs, "number");
        info = await d.client.node();
        assert.deepEqual(info["pluginCalls"], { inProcess: 4, exec: 0 }, "loopback + bridge per pod, none exec'd");

        const webNs = web.netns.replace("/run/netns/", "");
        assert.equal(inNs(webNs, ["ping", "-c1", "-W2", "10.200.6.3"]).status, 0, "pod → pod");
        assert.equal(inNs(webNs, ["ping", "-c1", "-W2", "10.200.255.1"]).status, 0, "pod → node");
        // host-local wrote its Go-compatible lease; the libcni cache has both attachments
        assert.deepEqual(leases().sort(), ["10.200.6.2", "10.200.6.3"]);
        assert.equal(readdirSync(join(dir, "cache", "results")).filter((f) => f.includes(web.sandboxID)).length, 2);
        // shaping: one HTB class per direction, filters on the pod's address (dst: ingress, src: egress)
        const classes = inNs(sb.node, ["tc", "class", "show", "dev", "cbr0"]).out;
        assert.match(classes, /class htb 1:1 root prio 0 rate 5Mbit ceil 5Mbit burst 1600b cburst 1600b/);
        assert.match(classes, /class htb 1:2 root prio 0 rate 3Mbit ceil 3Mbit burst 1599b cburst 1599b/); // as `tc class add … rate 3000kbit` makes it
        const filters = inNs(sb.node, ["tc", "filter", "show", "dev", "cbr0"]).out;
        assert.match(filters, /flowid 1:1[\s\S]*match 0ac80602\/ffffffff at 16/);
        assert.match(filters, /flowid 1:2[\s\S]*match 0ac80602\/ffffffff at 12/);
        // hostPort: the kubelet's chains, reachable from the node
        const nat = () => inNs(sb.node, ["iptables-save", "-t", "nat"]).out;
        assert.match(
          nat(),
          /-A KUBE-HOSTPORTS -p tcp -m comment --comment "web_default hostport 8080" -m tcp --dport 8080 -j KUBE-HP-[A-Z2-7]{16}/,
        );
        assert.match(
          nat(),
          /-A KUBE-HOSTPORTS -p tcp -m comment --comment "db_default hostport 5432" -m tcp --dport 5432 -j KUBE-HP-[A-Z2-7]{16}/,
        );
        const srv = serveOnce(webNs, 80, "hello from web");
        try {
          assert.equal(await tcpGet(sb.node, "10.200.255.1", 8080), "hello from web");
        } finally {
          srv.kill();
        }

        // restart: the pods are re-attached, their hostPort still answers
        assert.equal(await d.stop(), 0);
        d = await startDaemon({ netns: sb.node, dir, args: args() });
        const restored = JSON.parse(
          d
            .log()
            .split("\n")
            .find((l) => l.includes('"restored state"'))!,
        ) as { reattached: string[] };
        assert.deepEqual(restored.reattached.sort(), ["default/db", "default/web"]);
        const srv2 = serveOnce(webNs, 80, "still here");
        try {
          assert.equal(await tcpGet(sb.node, "10.200.255.1", 8080), "still here");
        } finally {
          srv2.kill();
        }

        await d.client.deletePod("default", "web");
        await d.client.deletePod("default", "db");
        assert.deepEqual(leases(), []);
        assert.doesNotMatch(nat(), /KUBE-HP-/);
        assert.doesNotMatch(inNs(sb.node, ["tc", "filter", "show", "dev", "cbr0"]).out, /match/);
        assert.equal(inNs(sb.node, ["tc", "class", "show", "dev", "cbr0"]).out.trim(), "");
        assert.deepEqual(sb.ipJson(sb.node, ["link", "show", "master", "cbr0"]), [], "no veth left on cbr0");
        assert.equal(existsSync(web.netns), false);
        assert.deepEqual((await d.client.node())["pluginCalls"], { inProcess: 4, exec: 0 }, "DELs ran in-process too");
      } finally {
        await d.stop();
        deleteDaemonNetns(join(dir, "state"));
      }
    }));

  it("--in-process-plugins=false execs the same bundles", () =>
    withSandbox(async (sb) => {
      nodeUplink(sb);
      const dir = join(sb.dir, "n");
      const d = await startDaemon({ netns: sb.node, dir, args: args(["--in-process-plugins=false"]) });
      try {
        const info = await d.client.node();
        assert.equal(info["pluginMode"], "exec");
        assert.equal(info["pluginCalls"], undefined);
        const a = await d.client.addPod({ metadata: { name: "a" }, spec: { containers: [{ name: "c" }] } });
        const b = await d.client.addPod({ metadata: { name: "b" }, spec: { containers: [{ name: "c" }] } });
        assert.equal(inNs(a.netns.replace("/run/netns/", ""), ["ping", "-c1", "-W2", b.ips[0]!]).status, 0);
        await d.client.deletePod("default", "a");
        await d.client.deletePod("default", "b");
        assert.deepEqual(sb.ipJson(sb.node, ["link", "show", "master", "cbr0"]), []);
      } finally {
        await d.stop();
        deleteDaemonNetns(join(dir, "state"));
      }
    }));
});
