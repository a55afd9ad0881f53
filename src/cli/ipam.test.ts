// `podnet ipam` over a temp data dir written in host-local's format, and temp network configs.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatIpamView, ipamView, networkRangeUsage, releaseLeases } from "./ipam.js";
import { loadConfFile } from "../libcni/confdir.js";

let root = "";
let data = "";
let conf = "";
const lease = (net: string, ip: string, content: string) => {
  mkdirSync(join(data, net), { recursive: true });
  writeFileSync(join(data, net, ip), content);
};

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "podnet-t-ipam-"));
  data = join(root, "networks");
  conf = join(root, "net.d");
  mkdirSync(conf);
  lease("podnet", "10.88.0.3", "ctr-b\r\neth0");
  lease("podnet", "10.88.0.2", "ctr-a\r\neth0");
  lease("podnet", "fd00:88::2", "ctr-a\r\neth0");
  lease("podnet", "10.99.0.9", "ctr-old\r\neth0"); // from a range the config no longer has
  lease("podnet", "last_reserved_ip.0", "10.88.0.3");
  lease("podnet", "lock", "");
  lease("kubenet", "10.244.1.5", "legacy-ctr"); // pre-v0.8.0: the container ID alone
  writeFileSync(
    join(conf, "10-podnet.conflist"),
    JSON.stringify({
      cniVersion: "1.0.0",
      name: "podnet",
      plugins: [
        {
          type: "bridge",
          ipam: {
            type: "host-local",
            dataDir: data,
            ranges: [[{ subnet: "10.88.0.0/24" }], [{ subnet: "fd00:88::/120" }]],
          },
        },
        { type: "portmap" },
      ],
    }),
  );
  // Another network's config with another data dir: not about this store.
  writeFileSync(
    join(conf, "20-other.conflist"),
    JSON.stringify({
      cniVersion: "1.0.0",
      name: "other",
      plugins: [{ type: "bridge", ipam: { type: "host-local", subnet: "10.77.0.0/24" } }],
    }),
  );
  writeFileSync(join(conf, "30-broken.conflist"), "{not json");
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("podnet ipam list", () => {
  it("per network: the range sets' used/free from the config, every lease with its owner", async () => {
    const nets = await ipamView(data, conf);
    assert.deepEqual(
      nets.map((n) => n.name),
      ["kubenet", "podnet"],
    );
    const [kubenet, podnet] = nets;
    assert.equal(podnet!.config, join(conf, "10-podnet.conflist"));
    assert.deepEqual(podnet!.ranges, [
      { rangeSet: "10.88.0.1-10.88.0.254", subnets: ["10.88.0.0/24"], used: 2, free: 251, total: 253 },
      { rangeSet: "fd00:88::1-fd00:88::ff", subnets: ["fd00:88::/120"], used: 1, free: 253, total: 254 },
    ]);
    assert.deepEqual(podnet!.leases, [
      { ip: "10.88.0.2", containerID: "ctr-a", ifname: "eth0", rangeSet: "10.88.0.1-10.88.0.254" },
      { ip: "10.88.0.3", containerID: "ctr-b", ifname: "eth0", rangeSet: "10.88.0.1-10.88.0.254" },
      { ip: "10.99.0.9", containerID: "ctr-old", ifname: "eth0", rangeSet: "" },
      { ip: "fd00:88::2", containerID: "ctr-a", ifname: "eth0", rangeSet: "fd00:88::1-fd00:88::ff" },
    ]);
    assert.equal(kubenet!.config, undefined, "no config uses host-local with this data dir for kubenet");
    assert.deepEqual(kubenet!.leases, [{ ip: "10.244.1.5", containerID: "legacy-ctr", ifname: null, rangeSet: "" }]);
    const text = formatIpamView(data, conf, nets);
    assert.match(
      text,
      /network podnet: 4 leases in .*\/networks\/podnet\n {2}ranges from .*10-podnet\.conflist:\n {2}RANGE SET +SUBNETS +USED +FREE +TOTAL\n/,
    );
    assert.match(text, /10\.88\.0\.1-10\.88\.0\.254 +10\.88\.0\.0\/24 +2 +251 +253/);
    assert.match(text, /ranges: unknown \(no config in .* uses host-local with this data dir\)/);
  });
  it("a configured network without a store yet shows its ranges, all free; nothing is created", async () => {
    rmSync(join(data, "podnet"), { recursive: true });
    const nets = await ipamView(data, conf);
    assert.deepEqual(
      nets.find((n) => n.name === "podnet")!.ranges.map((r) => r.used),
      [0, 0],
    );
    assert.equal(existsSync(join(data, "podnet")), false);
  });
  it("counts beyond 2^53 are strings", async () => {
    writeFileSync(
      join(conf, "10-podnet.conflist"),
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "podnet",
        plugins: [{ type: "host-local", dataDir: data, subnet: "fd00:88::/64" }],
      }),
    );
    const r = (await ipamView(data, conf)).find((n) => n.name === "podnet")!.ranges[0]!;
    assert.equal(r.total, "18446744073709551614");
    assert.equal(r.used, 1);
  });
  it("no data dir at all: nothing to show", async () => {
    assert.deepEqual(await ipamView(join(root, "none"), join(root, "none")), []);
  });
});

describe("podnet ipam release", () => {
  it("one lease by IP, under the store's lock", async () => {
    const r = await releaseLeases(data, "podnet", "10.88.0.3", undefined);
    assert.deepEqual(
      r.map((x) => x.name),
      ["10.88.0.3"],
    );
    assert.equal(existsSync(join(data, "podnet", "10.88.0.3")), false);
    assert.ok(existsSync(join(data, "podnet", "lock")));
  });
  it("every lease of a container, or one interface's", async () => {
    lease("podnet", "10.88.0.7", "ctr-a\r\neth1");
    assert.deepEqual(
      (await releaseLeases(data, "podnet", "ctr-a", "eth1")).map((x) => x.name),
      ["10.88.0.7"],
    );
    assert.deepEqual((await releaseLeases(data, "podnet", "ctr-a", undefined)).map((x) => x.name).sort(), [
      "10.88.0.2",
      "fd00:88::2",
    ]);
    assert.deepEqual(readdirSync(join(data, "podnet")).sort(), [
      "10.88.0.3",
      "10.99.0.9",
      "last_reserved_ip.0",
      "lock",
    ]);
  });
  it("a legacy lease (ID only) goes by its container ID", async () => {
    assert.deepEqual(
      (await releaseLeases(data, "kubenet", "legacy-ctr", "eth0")).map((x) => x.name),
      ["10.244.1.5"],
    );
  });
  it("says when there is nothing to release, and never creates a store", async () => {
    await assert.rejects(
      releaseLeases(data, "podnet", "10.88.0.99", undefined),
      /no lease of 10\.88\.0\.99 in network "podnet"/,
    );
    await assert.rejects(
      releaseLeases(data, "podnet", "nobody", undefined),
      /no lease held by container nobody in network "podnet"/,
    );
    await assert.rejects(
      releaseLeases(data, "nonet", "10.88.0.2", undefined),
      /no host-local store for network "nonet"/,
    );
    assert.equal(existsSync(join(data, "nonet")), false);
  });
});

describe("IPAM usage for podnet node's /metrics", () => {
  it("per range set of a network's host-local config: leases counted from the store's names, capacity without the gateway", async () => {
    const list = loadConfFile(join(conf, "10-podnet.conflist"));
    assert.deepEqual(await networkRangeUsage(list), [
      { network: "podnet", rangeSet: "10.88.0.1-10.88.0.254", subnets: ["10.88.0.0/24"], used: 2, capacity: 253 },
      { network: "podnet", rangeSet: "fd00:88::1-fd00:88::ff", subnets: ["fd00:88::/120"], used: 1, capacity: 254 },
    ]);
  });
  it("no store yet: nothing used; no host-local in the network: no ranges", async () => {
    rmSync(join(data, "podnet"), { recursive: true });
    const list = loadConfFile(join(conf, "10-podnet.conflist"));
    assert.deepEqual(
      (await networkRangeUsage(list)).map((u) => u.used),
      [0, 0],
    );
    writeFileSync(
      join(conf, "40-plain.conflist"),
      JSON.stringify({ cniVersion: "1.0.0", name: "plain", plugins: [{ type: "loopback" }] }),
    );
    assert.deepEqual(await networkRangeUsage(loadConfFile(join(conf, "40-plain.conflist"))), []);
  });
});
