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
    const o = parseNodeArgs(["--network-plugin", "kubenet", "--cni-bin-dir=/a,,/b", "--modprobe=false", "--make-iptables-util-chains", "--pod-cidr", "10.200.0.0/24, fd00:200::/64"]);
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
});
