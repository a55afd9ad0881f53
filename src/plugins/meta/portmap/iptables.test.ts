import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseSave } from "../../../kernel/iptables.js";
import { parseConfig } from "./config.js";
import { mustFormatHashWithPrefix } from "../../utils.js";
import {
  dnatChainName,
  findConflict,
  markDef,
  oldSnatChainName,
  planFamily,
  renderForward,
  renderUnforward,
  splitPortList,
  trimComment,
} from "./iptables.js";

const conf = (
  o: Record<string, unknown> = {},
  mappings: unknown[] = [
    { hostPort: 8080, containerPort: 80, protocol: "tcp" },
    { hostPort: 8043, containerPort: 443, protocol: "tcp" },
  ],
) =>
  parseConfig(
    {
      cniVersion: "1.0.0",
      name: "mynet",
      runtimeConfig: { portMappings: mappings },
      prevResult: { cniVersion: "1.0.0", ips: [{ address: "172.16.30.2/24" }, { address: "2001:db8::2/64" }] },
      ...o,
    },
    "1.0.0",
    "eth0",
  );

describe("Go's names and hashes", () => {
  it("matches the reference test vectors (network mynet, container abc123)", () => {
    assert.equal(mustFormatHashWithPrefix(28, "CNI-", "mynetabc123"), "CNI-70a29d9dc18bc4d652ea5d59");
    assert.equal(dnatChainName("mynet", "abc123"), "CNI-DN-70a29d9dc18bc4d652ea5");
    assert.equal(oldSnatChainName("mynet", "abc123"), "CNI-SN-70a29d9dc18bc4d652ea5");
    assert.throws(() => mustFormatHashWithPrefix(4, "CNI-", "x"));
    assert.equal(markDef(13), "0x2000/0x2000");
    assert.equal(markDef(0), "0x1/0x1");
  });

  it("chunks multiport lists by 15 and trims comments to 255 characters", () => {
    assert.deepEqual(splitPortList(Array.from({ length: 17 }, (_, i) => i + 1)), [
      "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
      "16,17",
    ]);
    const long = trimComment("x".repeat(300));
    assert.equal(long.length, 255);
    assert.ok(long.endsWith("..."));
  });
});

describe("iptables rendering (golden: the spec's example as iptables-save prints it)", () => {
  const chain = dnatChainName("mynet", "cid1");

  it("one family's rules: hairpin and localhost marks, then the DNAT, per mapping", () => {
    const p = planFamily(conf(), "mynet", "cid1", 4)!;
    assert.deepEqual(p.rules, [
      "-s 172.16.30.0/24 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK",
      "-s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK",
      "-p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.16.30.2:80",
      "-s 172.16.30.0/24 -p tcp -m tcp --dport 8043 -j CNI-HOSTPORT-SETMARK",
      "-s 127.0.0.1/32 -p tcp -m tcp --dport 8043 -j CNI-HOSTPORT-SETMARK",
      "-p tcp -m tcp --dport 8043 -j DNAT --to-destination 172.16.30.2:443",
    ]);
    assert.deepEqual(p.entryRules, [
      '-p tcp -m comment --comment "dnat name: \\"mynet\\" id: \\"cid1\\"" -m multiport --dports 8080,8043',
    ]);
    const v6 = planFamily(conf({ externalSetMarkChain: "KUBE-MARK-MASQ" }), "mynet", "cid1", 6)!;
    assert.deepEqual(v6.rules.slice(0, 2), [
      "-s 2001:db8::/64 -p tcp -m tcp --dport 8080 -j KUBE-MARK-MASQ",
      "-p tcp -m tcp --dport 8080 -j DNAT --to-destination [2001:db8::2]:80",
    ]);
  });

  it("a fresh table: the shared chains (POSTROUTING jump first), then the container's", () => {
    const t = parseSave(
      "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n",
      "nat",
    );
    const c = conf();
    const lines = renderForward(t, planFamily(c, "mynet", "cid1", 4)!, c);
    assert.deepEqual(lines.slice(0, 11), [
      "-N CNI-HOSTPORT-SETMARK",
      '-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000',
      "-N CNI-HOSTPORT-MASQ",
      "-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
      '-I POSTROUTING 1 -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
      "-N CNI-HOSTPORT-DNAT",
      "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
      "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
      `-N ${chain}`,
      `-A ${chain} -s 172.16.30.0/24 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`,
      `-A ${chain} -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`,
    ]);
    assert.equal(
      lines.at(-1),
      `-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"mynet\\" id: \\"cid1\\"" -m multiport --dports 8080,8043 -j ${chain}`,
    );
  });

  it("append-unique: what is there already is not added again", () => {
    const c = conf();
    const p = planFamily(c, "mynet", "cid1", 4)!;
    const first = renderForward(parseSave("*nat\nCOMMIT\n", "nat"), p, c);
    const save = [
      "*nat",
      ":PREROUTING ACCEPT [0:0]",
      ":OUTPUT ACCEPT [0:0]",
      ":POSTROUTING ACCEPT [0:0]",
      ...first.filter((l) => l.startsWith("-N ")).map((l) => `:${l.slice(3)} - [0:0]`),
      ...first.filter((l) => l.startsWith("-A ")),
      ...first.filter((l) => l.startsWith("-I ")).map((l) => l.replace("-I POSTROUTING 1", "-A POSTROUTING")),
      "COMMIT",
    ].join("\n");
    assert.deepEqual(renderForward(parseSave(save, "nat"), p, c), []);
  });

  it("DEL: Go's teardown without state; with state only this attachment's rules unless nothing else is left", () => {
    const other = "-p tcp -m tcp --dport 9999 -j DNAT --to-destination 172.16.30.9:80";
    const c = conf();
    const p = planFamily(c, "mynet", "cid1", 4)!;
    const entry = `${p.entryRules[0]} -j ${chain}`;
    const save = (extra: string[]) =>
      parseSave(
        [
          "*nat",
          ":CNI-HOSTPORT-DNAT - [0:0]",
          `:${chain} - [0:0]`,
          `-A CNI-HOSTPORT-DNAT ${entry}`,
          ...p.rules.map((r) => `-A ${chain} ${r}`),
          ...extra,
          "COMMIT",
        ].join("\n"),
        "nat",
      );
    assert.deepEqual(renderUnforward(save([]), chain, undefined), [
      `-D CNI-HOSTPORT-DNAT ${entry}`,
      `-F ${chain}`,
      `-X ${chain}`,
    ]);
    assert.deepEqual(renderUnforward(save([]), chain, p), [
      `-D CNI-HOSTPORT-DNAT ${entry}`,
      `-F ${chain}`,
      `-X ${chain}`,
    ]);
    const shared = renderUnforward(save([`-A ${chain} ${other}`]), chain, p);
    assert.ok(!shared.includes(`-X ${chain}`), "another attachment's rule keeps the chain");
    assert.equal(shared.filter((l) => l.startsWith(`-D ${chain} `)).length, p.rules.length);
    assert.deepEqual(renderUnforward(parseSave("*nat\nCOMMIT\n", "nat"), chain, p), [], "nothing there: nothing to do");
  });

  it("finds a host port another container's chain forwards (host IPs that differ do not conflict)", () => {
    const t = parseSave(
      [
        "*nat",
        "-A CNI-DN-other -d 192.0.2.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.9:80",
        "-A CNI-DN-other -p udp -m udp --dport 53 -j DNAT --to-destination 10.0.0.9:53",
        "COMMIT",
      ].join("\n"),
      "nat",
    );
    const any = conf();
    assert.equal(findConflict(t, planFamily(any, "mynet", "cid1", 4)!, any)?.chain, "CNI-DN-other");
    const elsewhere = conf({}, [{ hostPort: 8080, containerPort: 80, hostIP: "192.0.2.2" }]);
    assert.equal(findConflict(t, planFamily(elsewhere, "mynet", "cid1", 4)!, elsewhere), undefined);
    const udp = conf({}, [{ hostPort: 53, containerPort: 53, protocol: "udp" }]);
    assert.equal(findConflict(t, planFamily(udp, "mynet", "cid1", 4)!, udp)?.entry.hostPort, 53);
  });
});
