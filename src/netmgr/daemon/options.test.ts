import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseNodeArgs } from "./options.js";

describe("podnet node flags", () => {
  it("the kubelet's defaults", () => {
    const o = parseNodeArgs([]);
    assert.equal(o.networkPlugin, "");
    assert.equal(o.networkPluginDir, "/usr/libexec/kubernetes/kubelet-plugins/net/exec/");
    assert.deepEqual(o.cniBinDirs, ["/opt/cni/bin"]);
    assert.equal(o.cniConfDir, "/etc/cni/net.d");
    assert.equal(o.cniCacheDir, "/var/lib/cni/cache");
    assert.equal(o.networkPluginMtu, 0);
    assert.equal(o.nonMasqueradeCIDR, "10.0.0.0/8");
    assert.equal(o.podCIDR, "");
    assert.equal(o.hairpinMode, "promiscuous-bridge");
    assert.equal(o.socket, "/run/podnet/podnet.sock");
    assert.equal(o.socketGroup, "", "root only by default");
    assert.equal(parseNodeArgs(["--socket-group", "podnet"]).socketGroup, "podnet");
    assert.equal(o.makeIptablesUtilChains, true);
    assert.equal(o.modprobe, true);
    assert.equal(o.inProcessPlugins, true);
    assert.equal(parseNodeArgs(["--in-process-plugins=false"]).inProcessPlugins, false);
  });
  it("comma-separated bin dirs, booleans, both --flag=v and --flag v", () => {
    const o = parseNodeArgs([
      "--network-plugin",
      "kubenet",
      "--cni-bin-dir=/a,,/b",
      "--modprobe=false",
      "--make-iptables-util-chains",
      "--pod-cidr",
      "10.200.0.0/24, fd00:200::/64",
    ]);
    assert.deepEqual(o.cniBinDirs, ["/a", "/b"]);
    assert.equal(o.modprobe, false);
    assert.equal(o.makeIptablesUtilChains, true);
    assert.equal(o.podCIDR, "10.200.0.0/24,fd00:200::/64");
  });
  const bad: Array<[string[], RegExp]> = [
    [["--pod-cidr=10.0.0.0/33"], /--pod-cidr: "10.0.0.0\/33" is not a CIDR/],
    [["--network-plugin-mtu=9k"], /--network-plugin-mtu: must be 0 \(auto\) or 68..65535, got "9k"/],
    [["--hairpin-mode=on"], /--hairpin-mode: unknown value: "on"/],
    [["--non-masquerade-cidr=10/8"], /--non-masquerade-cidr: "10\/8" is not a CIDR/],
    [["--network-plugin=My Plugin"], /--network-plugin: "My Plugin" is not a valid plugin name/],
    [["--bogus=1"], /Unknown option '--bogus'/],
    [["--modprobe=maybe"], /--modprobe: must be true or false, got "maybe"/],
    [["--socket-group=a:b"], /--socket-group: "a:b" is not a group name or GID/],
  ];
  for (const [args, re] of bad) it(`rejects ${args.join(" ")}`, () => assert.throws(() => parseNodeArgs(args), re));

  describe("cluster networking flags", () => {
    const base = [
      "--network-plugin=kubenet",
      "--cluster-cidr=10.200.0.0/16,fd00:200::/48",
      "--etcd-endpoints=http://10.200.255.9:2379",
    ];
    it("are off by default; with --cluster-cidr: the defaults, the node name from the hostname, lower-cased", () => {
      assert.equal(parseNodeArgs(["--network-plugin=kubenet"]).cluster, undefined);
      const c = parseNodeArgs(base, { hostname: "Worker-1.Example" }).cluster!;
      assert.equal(c.settings.nodeName, "worker-1.example");
      assert.deepEqual(
        c.settings.ranges.map((r) => r.maskSize),
        [24, 64],
      );
      assert.equal(c.settings.backend, "auto");
      assert.equal(c.settings.nodeTtlMs, 24 * 3600_000);
      assert.equal(c.settings.keys.prefix, "/podnet");
      assert.deepEqual(c.nodeIPs, []);
      assert.deepEqual(c.etcd, { endpoints: "http://10.200.255.9:2379", prefix: "/podnet" });
    });
    it("every flag, and --pod-cidr as this node's block", () => {
      const c = parseNodeArgs(
        [
          ...base,
          "--node-name=n1",
          "--node-ip=fd00:200::0:1, 10.200.255.1",
          "--node-cidr-mask-size=26,80",
          "--backend=vxlan",
          "--etcd-prefix=/c1",
          "--node-ttl=2h30m",
          "--pod-cidr=10.200.7.0/26",
          "--etcd-cafile=/ca",
          "--etcd-certfile=/c",
          "--etcd-keyfile=/k",
        ],
        { hostname: "h" },
      ).cluster!;
      assert.equal(c.settings.nodeName, "n1");
      assert.deepEqual(c.nodeIPs, ["10.200.255.1", "fd00:200::1"]);
      assert.deepEqual(
        c.settings.ranges.map((r) => r.maskSize),
        [26, 80],
      );
      assert.equal(c.settings.backend, "vxlan");
      assert.equal(c.settings.keys.prefix, "/c1");
      assert.equal(c.settings.nodeTtlMs, 9_000_000);
      assert.deepEqual(
        c.settings.podCIDRs.map((x) => x.prefix),
        [26],
      );
      assert.deepEqual(c.etcd, {
        endpoints: "http://10.200.255.9:2379",
        prefix: "/c1",
        cafile: "/ca",
        certfile: "/c",
        keyfile: "/k",
      });
      assert.equal(
        parseNodeArgs([...base.map((a) => a.replace("kubenet", "cni"))], { hostname: "h" }).cluster?.settings.nodeName,
        "h",
      );
    });
    const refused: Array<[string[], RegExp]> = [
      [
        ["--network-plugin=kubenet", "--etcd-endpoints=http://a:1"],
        /--etcd-endpoints: is a cluster networking flag: it needs --cluster-cidr/,
      ],
      [["--network-plugin=kubenet", "--backend=vxlan"], /--backend: is a cluster networking flag/],
      [
        ["--network-plugin=kubenet", "--cluster-cidr=10.200.0.0/16"],
        /--etcd-endpoints: is required with --cluster-cidr/,
      ],
      [[...base.slice(1)], /--cluster-cidr: needs --network-plugin=kubenet or --network-plugin=cni, got "noop"/],
      [[...base, "--backend=ipip"], /--backend: "ipip" is not one of auto, host-gw, vxlan/],
      [
        [...base, "--node-ip=10.200.255.1,10.200.255.2"],
        /--node-ip: "10.200.255.1,10.200.255.2" has two IPv4 addresses/,
      ],
      [[...base, "--node-ip=node1"], /--node-ip: "node1" is not an IP address/],
      [
        [...base, "--pod-cidr=10.201.0.0/24"],
        /--pod-cidr: 10.201.0.0\/24 is not inside the cluster CIDR 10.200.0.0\/16/,
      ],
      [
        [...base, "--node-cidr-mask-size=8"],
        /--node-cidr-mask-size: IPv4 mask size 8 is shorter than the cluster CIDR/,
      ],
      [[...base, "--etcd-certfile=/c", "--etcd-keyfile=/k"], /--etcd-cafile: is required with --etcd-certfile/],
      [[...base, "--etcd-endpoints=http://a:1,https://b:2"], /--etcd-endpoints: .* mixes http and https/],
      [[...base, "--cluster-cidr=10.200.0.1/16"], /--cluster-cidr: "10.200.0.1\/16" has host bits set/],
    ];
    for (const [args, re] of refused)
      it(`rejects ${args.slice(-1)[0]}`, () => assert.throws(() => parseNodeArgs(args, { hostname: "h" }), re));
    it("a hostname that is no node name needs --node-name", () => {
      assert.throws(
        () => parseNodeArgs(base, { hostname: "my_host" }),
        /--node-name: the hostname "my_host" is not a node name .*; pass --node-name/,
      );
      assert.throws(() => parseNodeArgs(base), /--node-name: is required: the hostname is unknown/);
      assert.equal(parseNodeArgs([...base, "--node-name=x"], {}).cluster?.settings.nodeName, "x");
    });
  });
});
