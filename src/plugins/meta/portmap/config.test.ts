import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CniError } from "../../../cni/index.js";
import { chooseBackend, containerIPs, mappingsFor, parseConfig } from "./config.js";

const prev = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "cni0" }, { name: "veth1" }, { name: "eth0", sandbox: "/run/netns/p" }],
  ips: [
    { address: "10.200.0.5/24", interface: 2 },
    { address: "fd00:200::5/64", interface: 2 },
  ],
};
const conf = (
  o: Record<string, unknown> = {},
  mappings: unknown[] = [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
) => ({
  cniVersion: "1.0.0",
  name: "net",
  type: "portmap",
  runtimeConfig: { portMappings: mappings },
  prevResult: prev,
  ...o,
});

const err = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof CniError);
    return e.message;
  }
  assert.fail("no error");
};

describe("portmap config", () => {
  it("Go's defaults: snat on, mark bit 13, nftables when nothing says iptables", () => {
    const c = parseConfig(conf(), "1.0.0", "eth0");
    assert.equal(c.snat, true);
    assert.equal(c.markMasqBit, 13);
    assert.equal(c.backend, "nftables");
    assert.equal(c.masqAll, false);
    assert.deepEqual(c.portMappings, [{ hostPort: 8080, containerPort: 80, protocol: "tcp", hostIP: "" }]);
  });

  it("matches keys without case, as containerd sends them (Go field names), and lower-cases protocols", () => {
    const c = parseConfig(
      conf({ SNAT: false, MarkMasqBit: 5 }, [{ HostPort: 443, ContainerPort: 8443, Protocol: "UDP", HostIP: "" }]),
      "1.0.0",
      "eth0",
    );
    assert.equal(c.snat, false);
    assert.equal(c.markMasqBit, 5);
    assert.deepEqual(c.portMappings, [{ hostPort: 443, containerPort: 8443, protocol: "udp", hostIP: "" }]);
    const r = parseConfig(
      { ...conf(), runtimeConfig: undefined, RuntimeConfig: { PortMappings: [{ hostport: 1, containerport: 2 }] } },
      "1.0.0",
      "eth0",
    );
    assert.deepEqual(r.portMappings, [{ hostPort: 1, containerPort: 2, protocol: "tcp", hostIP: "" }]);
  });

  it("names the field and the value of bad input", () => {
    const m = (e: Record<string, unknown>) =>
      err(() => parseConfig(conf({}, [{ hostPort: 80, containerPort: 80, protocol: "tcp", ...e }]), "1.0.0", "eth0"));
    assert.equal(
      m({ hostPort: 0 }),
      'invalid portmap config: "runtimeConfig.portMappings.0.hostPort" must be 1..65535, got 0',
    );
    assert.equal(
      m({ containerPort: 65536 }),
      'invalid portmap config: "runtimeConfig.portMappings.0.containerPort" must be 1..65535, got 65536',
    );
    assert.equal(
      m({ hostPort: 80.5 }),
      'invalid portmap config: "runtimeConfig.portMappings.0.hostPort" must be an integer, got 80.5',
    );
    assert.match(m({ protocol: "icmp" }), /"runtimeConfig\.portMappings\.0\.protocol" must be .*"tcp".*, got "icmp"/);
    assert.equal(
      m({ hostIP: "10.0.0.300" }),
      'invalid portmap config: "runtimeConfig.portMappings.0.hostIP" must be an IP address, got "10.0.0.300"',
    );
    assert.equal(
      err(() => parseConfig(conf({ markMasqBit: 32 }), "1.0.0", "eth0")),
      'invalid portmap config: "markMasqBit" must be between 0 and 31, got 32',
    );
    assert.equal(
      err(() => parseConfig(conf({ markMasqBit: 3, externalSetMarkChain: "KUBE-MARK-MASQ" }), "1.0.0", "eth0")),
      "invalid portmap config: Cannot specify externalSetMarkChain and markMasqBit",
    );
    assert.equal(
      err(() => parseConfig(conf({ backend: "ipvs" }), "1.0.0", "eth0")),
      'invalid portmap config: unrecognized backend "ipvs"',
    );
  });

  it("a host port mapped twice in one request: identical entries collapse, different targets are an error", () => {
    const same = parseConfig(
      conf({}, [
        { hostPort: 80, containerPort: 8080 },
        { hostPort: 80, containerPort: 8080, protocol: "tcp" },
      ]),
      "1.0.0",
      "eth0",
    );
    assert.equal(same.portMappings.length, 1);
    assert.equal(
      err(() =>
        parseConfig(
          conf({}, [
            { hostPort: 80, containerPort: 8080 },
            { hostPort: 80, containerPort: 9090 },
          ]),
          "1.0.0",
          "eth0",
        ),
      ),
      'invalid portmap config: "runtimeConfig.portMappings.1" maps host port 80/tcp again, to container port 9090 (already mapped to 8080)',
    );
  });

  it("backend: iptables-only options pick iptables (the seed's KUBE-MARK-MASQ), mixing is refused", () => {
    const none = { externalSetMarkChain: undefined, conditionsV4: [], conditionsV6: [] };
    assert.deepEqual(chooseBackend(undefined, { ...none, externalSetMarkChain: "KUBE-MARK-MASQ" }), {
      backend: "iptables",
      implied: true,
    });
    assert.deepEqual(chooseBackend(undefined, { ...none, conditionsV4: ["!", "-d", "192.0.2.0/24"] }), {
      backend: "iptables",
      implied: true,
    });
    assert.deepEqual(chooseBackend(undefined, { ...none, conditionsV4: ["ip", "daddr", "!=", "192.0.2.0/24"] }), {
      backend: "nftables",
      implied: true,
    });
    assert.deepEqual(chooseBackend("iptables", none), { backend: "iptables", implied: false });
    assert.throws(
      () => chooseBackend("nftables", { ...none, externalSetMarkChain: "X" }),
      /nftables backend was requested but configuration contains iptables-specific options \[externalSetMarkChain\]/,
    );
    assert.throws(
      () =>
        chooseBackend(undefined, { ...none, conditionsV4: ["-s", "1.2.3.4"], conditionsV6: ["ip6", "saddr", "::1"] }),
      /are iptables options but conditionsV6 are nftables options/,
    );
  });

  it("container addresses: the first of each family on CNI_IFNAME; host-side ones are skipped", () => {
    const r = {
      cniVersion: "1.0.0",
      interfaces: [{ name: "veth1" }, { name: "eth0", sandbox: "/x" }, { name: "net1", sandbox: "/x" }],
      ips: [
        { address: "10.9.0.1/24", interface: 0 },
        { address: "10.9.1.2/24", interface: 2 },
        { address: "10.9.2.3/24", interface: 1 },
        { address: "10.9.3.4/24" },
      ],
    };
    assert.equal(containerIPs(r, "eth0").v4?.ip.value, (10n << 24n) | (9n << 16n) | (2n << 8n) | 3n);
    assert.equal(containerIPs(r, "eth0").v6, undefined);
    assert.equal(containerIPs(undefined, "eth0").v4, undefined);
  });

  it("mappings per family: a host IP of the other family skips the entry (as Go)", () => {
    const c = parseConfig(
      conf({}, [
        { hostPort: 1, containerPort: 1 },
        { hostPort: 2, containerPort: 2, hostIP: "10.0.0.1" },
        { hostPort: 3, containerPort: 3, hostIP: "fd00::1" },
      ]),
      "1.0.0",
      "eth0",
    );
    assert.deepEqual(
      mappingsFor(c, 4).map((e) => e.hostPort),
      [1, 2],
    );
    assert.deepEqual(
      mappingsFor(c, 6).map((e) => e.hostPort),
      [1, 3],
    );
  });

  it("prevResult in an older version is read and converted", () => {
    const c = parseConfig(
      {
        cniVersion: "0.3.1",
        name: "n",
        runtimeConfig: { portMappings: [{ hostPort: 1, containerPort: 2 }] },
        prevResult: {
          cniVersion: "0.3.1",
          interfaces: [{ name: "eth0", sandbox: "/x" }],
          ips: [{ version: "4", address: "10.1.2.3/16", interface: 0 }],
        },
      },
      "0.3.1",
      "eth0",
    );
    assert.equal(c.contIPv4?.prefix, 16);
  });
});
