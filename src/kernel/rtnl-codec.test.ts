// Pure tests of the rtnetlink codec: byte fixtures, some captured from a real kernel (6.18).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AF,
  IFF,
  IFLA,
  IFLA_INFO,
  NDA,
  NLM_F,
  NLMSG,
  NTF,
  NUD,
  RTM,
  attr,
  be16,
  cstr,
  decodeAddr,
  decodeError,
  decodeFdb,
  decodeLink,
  decodeNdMsg,
  decodeNeigh,
  decodeRoute,
  decodeVxlanData,
  encodeMessage,
  ifaddrmsg,
  ifinfomsg,
  iterAttrs,
  ndmsg,
  nested,
  parseAttrs,
  parseMessages,
  readBe16,
  readStr,
  readU32,
  routeTypeName,
  routeTypeNumber,
  rtmsg,
  scopeName,
  scopeNumber,
  u32,
  u8,
} from "./rtnl-codec.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ""), "hex"));

// Captured: RTM_NEWLINK payload for an ifb "d0" (index 3, mtu 1400, mac 02:00:00:00:00:02, up),
// port of bridge index 2 with hairpin on. GETLINK with IFLA_EXT_MASK VF|SKIP_STATS.
const LINK_IFB_PORT =
  "0000010003000000c300010000000000070003006430000008000d002000000005001000000000000500110000000000050043000000000008000400780500000800320000000000080033000000000008001b000000000008001e000100000008003d000100000008001f000100000008002800ffff0000080029000000010008003a000000010008003f0000000100080040000000010008003b00f8ff070008003c00ffff00000800420000000000080020000100000008000a00020000000500210001000000080023000000000008002f000000000008003000000000000600440000000000060045000000000005002700000000000a00010002000000000200000a000200ffffffffffff0000cc0017000100000000000000000000000000000046000000000000000000000000000000000000000000000000000000000000000100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000640007000100000000000000460000000000000000000000000000000100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000c002b0005000200000000006801120008000100696662000b000400627269646765000050010500050001000000000006000200200000000800030064000000050004000100000005000500000000000500060000000000050007000000000005001c00000000000500080001000000050009000100000005001b000100000005001e000100000005000a000000000005000c00000000000c000d0080000200000000010c000e00800002000000000106000f00018000000600100000000000060011000180000006001200010000000500130000000000050014000000000005001d000000000006001f000000000005002000000000000500230000000000050024000000000005002100000000000500270000000000050028000000000005002b00000000000c00150000000000000000000c00160000000000000000000c0017000000000000000000050019000100000008002500000200000800260000000000080029000000000008002a00000000000f000600706669666f5f666173740000c0011a008c00020088000100000000000000000000000000010000000100000001000000010000000000000001000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000010270000e8030000000000000000000000000000000000000100000030010a00080001001000008014000500ffff000083ce00007c570000e8030000f400020000000000400000007805000001000000010000000100000001000000ffffffffa00f0000e803000000000000803a0900805101000300000058020000100000000000000001000000010000000100000060ea0000000000000000000000000000000000000000000000000000ffffffff000000000000000010270000e8030000010000000000000000000000010000000000000000000000010000000000000000000000000000000000000080ee360000000000000000000100000000000000000000000000000000000000000000000004000000000000ffff0000ffffffff010000000000000000000000000000001400070000000000000000000000000000000000050008000000000024000e00000000000000000000000000000000000000000000000000000000000000000004003e8004004180";
// Captured: RTM_NEWADDR payload for 10.200.0.2/24 brd 10.200.0.255 on index 3 (label d0).
const ADDR_V4 =
  "0218800003000000080001000ac80002080002000ac80002080004000ac800ff0700030064300000080008008000000014000600ffffffffffffffff83ce000083ce0000";
// Captured: RTM_NEWROUTE payloads: 10.200.0.0/24 dev 3 proto kernel scope link src 10.200.0.2,
// and 10.200.9.0/24 via 10.200.0.1 dev 3 metric 10.
const ROUTE_CONNECTED = "02180000fe02fd010000000008000f00fe000000080001000ac80000080007000ac800020800040003000000";
const ROUTE_VIA =
  "02180000fe0000010000000008000f00fe000000080001000ac80900080006000a000000080005000ac800010800040003000000";

describe("attributes", () => {
  it("pads payloads to 4 bytes and records the unpadded length", () => {
    assert.equal(hex(attr(IFLA.IFNAME, cstr("eth0"))), "09000300" + "6574683000" + "000000");
    assert.equal(hex(attr(IFLA.MTU, u32(1500))), "08000400dc050000");
    assert.equal(hex(attr(17, u8(1))), "0500110001000000");
  });

  it("nests attributes without NLA_F_NESTED", () => {
    const n = nested(IFLA.LINKINFO, [attr(IFLA_INFO.KIND, cstr("veth"))]);
    assert.equal(hex(n), "1000" + "1200" + "09000100" + "7665746800" + "000000");
    const inner = parseAttrs(n).get(IFLA.LINKINFO)!;
    assert.equal(readStr(parseAttrs(inner).get(IFLA_INFO.KIND)!), "veth");
  });

  it("masks NLA_F_NESTED / NLA_F_NET_BYTEORDER from types and stops at truncated attributes", () => {
    const b = bytes("08001280" + "01000000" + "0800" + "0400" + "dc05"); // second attr claims 8 bytes, has 6
    assert.deepEqual(
      [...iterAttrs(b)].map(([t]) => t),
      [0x12],
    );
  });

  it("keeps every occurrence in iterAttrs and the last in parseAttrs", () => {
    const b = new Uint8Array([...attr(1, u32(1)), ...attr(1, u32(2))]);
    assert.deepEqual(
      [...iterAttrs(b)].map(([, v]) => readU32(v)),
      [1, 2],
    );
    assert.equal(readU32(parseAttrs(b).get(1)!), 2);
  });
});

describe("messages", () => {
  it("encodes `ip link set dev eth0 up` as RTM_NEWLINK by name", () => {
    const m = encodeMessage(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK, 1, [
      ifinfomsg({ flags: IFF.UP, change: IFF.UP }),
      attr(IFLA.IFNAME, cstr("eth0")),
    ]);
    assert.equal(
      hex(m),
      "2c000000" +
        "1000" +
        "0500" +
        "01000000" +
        "00000000" + // nlmsghdr: len 44, type 16, flags 5, seq 1, pid 0
        "00" +
        "00" +
        "0000" +
        "00000000" +
        "01000000" +
        "01000000" + // ifinfomsg: flags/change IFF_UP
        "09000300" +
        "6574683000000000", // IFLA_IFNAME "eth0"
    );
  });

  it("encodes ifaddrmsg and rtmsg headers", () => {
    assert.equal(hex(ifaddrmsg({ family: 2, prefixLen: 24, flags: 0x80, scope: 253, index: 7 })), "021880fd07000000");
    assert.equal(
      hex(rtmsg({ family: 10, dstLen: 64, table: 254, protocol: 4, scope: 0, type: 1, flags: 4 })),
      "0a400000fe04000104000000",
    );
  });

  it("splits a datagram into aligned messages", () => {
    const a = encodeMessage(RTM.NEWLINK, NLM_F.MULTI, 9, [u8(1)]); // 17 bytes → padded to 20
    const b = encodeMessage(NLMSG.DONE, NLM_F.MULTI, 9, [u32(0)]);
    const buf = new Uint8Array(20 + b.length);
    buf.set(a, 0);
    buf.set(b, 20);
    const ms = parseMessages(buf);
    assert.deepEqual(
      ms.map((m) => [m.type, m.seq, m.payload.length]),
      [
        [RTM.NEWLINK, 9, 1],
        [NLMSG.DONE, 9, 4],
      ],
    );
  });

  it("decodes an ACK and an error with extended-ack text (capped)", () => {
    const orig = "2c000000" + "1000" + "0506" + "01000000" + "00000000";
    const ackHeader = "24000000" + "0200" + "0001" + "01000000" + "00000000" + "00000000"; // NLMSG_ERROR, error 0
    const ack = parseMessages(bytes(ackHeader + orig))[0]!;
    assert.deepEqual(decodeError(ack), { error: 0, extack: "" });
    const err = parseMessages(
      bytes(
        "38000000" +
          "0200" +
          "0003" +
          "01000000" +
          "00000000" + // NLMSG_ERROR, flags CAPPED|ACK_TLVS
          "efffffff" +
          orig + // -EEXIST + original header
          "09000100" +
          "626f6f6d00000000" + // NLMSGERR_ATTR_MSG "boom"
          "08000200" +
          "20000000", // NLMSGERR_ATTR_OFFS 32
      ),
    )[0]!;
    assert.deepEqual(decodeError(err), { error: -17, extack: "boom", offset: 32 });
  });
});

describe("decoding captured kernel messages", () => {
  it("decodes a bridge port link with hairpin", () => {
    assert.deepEqual(decodeLink(bytes(LINK_IFB_PORT)), {
      name: "d0",
      index: 3,
      kind: "ifb",
      mtu: 1400,
      mac: "02:00:00:00:00:02",
      up: true,
      operstate: "unknown",
      flags: 0x100c3,
      promisc: false,
      txQLen: 32,
      masterIndex: 2,
      slaveKind: "bridge",
      hairpin: true,
      learning: true,
    });
  });

  it("decodes an IPv4 address", () => {
    assert.deepEqual(decodeAddr(bytes(ADDR_V4), new Map([[3, "d0"]])), {
      dev: "d0",
      ifindex: 3,
      family: 4,
      address: "10.200.0.2",
      prefixLen: 24,
      cidr: "10.200.0.2/24",
      broadcast: "10.200.0.255",
      label: "d0",
      scope: "universe",
      flags: 0x80,
      permanent: true,
      tentative: false,
      dadFailed: false,
      noDad: false,
    });
  });

  it("decodes a connected route and a route via a gateway", () => {
    const names = new Map([[3, "d0"]]);
    assert.deepEqual(decodeRoute(bytes(ROUTE_CONNECTED), names), {
      family: 4,
      dst: "10.200.0.0/24",
      dev: "d0",
      ifindex: 3,
      scope: "link",
      table: 254,
      protocol: 2,
      src: "10.200.0.2",
      type: "unicast",
      flags: 0,
    });
    assert.deepEqual(decodeRoute(bytes(ROUTE_VIA), names), {
      family: 4,
      dst: "10.200.9.0/24",
      gw: "10.200.0.1",
      dev: "d0",
      ifindex: 3,
      scope: "universe",
      table: 254,
      protocol: 0,
      metric: 10,
      type: "unicast",
      flags: 0,
    });
  });

  it("decodes a veth whose peer is in another netns", () => {
    const p = new Uint8Array([
      ...ifinfomsg({ index: 5, flags: IFF.UP | IFF.BROADCAST | IFF.MULTICAST }),
      ...attr(IFLA.IFNAME, cstr("veth1")),
      ...attr(IFLA.MTU, u32(1450)),
      ...attr(IFLA.LINK, u32(2)),
      ...attr(IFLA.LINK_NETNSID, u32(0)),
      ...attr(IFLA.OPERSTATE, u8(6)),
      ...attr(IFLA.ADDRESS, bytes("0a580ac80002")),
      ...attr(IFLA.MASTER, u32(4)),
      ...nested(IFLA.LINKINFO, [attr(IFLA_INFO.KIND, cstr("veth"))]),
    ]);
    const l = decodeLink(p);
    assert.equal(l.kind, "veth");
    assert.equal(l.operstate, "up");
    assert.equal(l.linkIndex, 2);
    assert.equal(l.linkNetnsId, 0);
    assert.equal(l.masterIndex, 4);
    assert.equal(l.mac, "0a:58:0a:c8:00:02");
    assert.equal(l.hairpin, undefined);
  });

  it("names loopback and kind-less devices", () => {
    const lo = decodeLink(
      new Uint8Array([...ifinfomsg({ index: 1, flags: IFF.LOOPBACK }), ...attr(IFLA.IFNAME, cstr("lo"))]),
    );
    assert.equal(lo.kind, "loopback");
    const eth = decodeLink(new Uint8Array([...ifinfomsg({ index: 2 }), ...attr(IFLA.IFNAME, cstr("ens3"))]));
    assert.equal(eth.kind, "device");
  });
});

// Captured (6.18): IFLA_INFO_DATA of `vxlan id 7 local 10.200.1.1 dev <2> dstport 4789 nolearning`;
// RTM_NEWNEIGH payloads of `10.244.2.0 lladdr 0e:00:00:00:00:02 dev <3> PERMANENT` and of the FDB
// entry `0e:00:00:00:00:02 dev <3> dst 10.200.2.1 self permanent`.
const VXLAN_DATA =
  "08000100070000000800030002000000080004000ac80101050005000000000005001c0000000000050006000000000005001d000000000008001a00000000000800200000000000050007000000000005000b000000000005000c000000000005000d000000000005000e00000000000500190000000000080008002c010000080009000000000006000f0012b500000500120001000000050013000000000005001400000000000500150000000000050016000000000005001f000100000008000a00000000000c002100f7ffffff000000ff";
const NEIGH_V4 =
  "020000000300000080000001080001000af402000a0002000e0000000002000008000400000000001400030000000000000000000000000000000000";
const FDB_VXLAN =
  "0700000003000000800002010a0002000e00000000020000080001000ac802011400030000000000000000000000000000000000";

describe("neighbours, FDB entries and vxlan links", () => {
  it("decodes a vxlan link's attributes", () => {
    assert.deepEqual(decodeVxlanData(bytes(VXLAN_DATA)), {
      vni: 7,
      local: "10.200.1.1",
      underlayIndex: 2,
      port: 4789,
      learning: false,
    });
    const l = decodeLink(
      new Uint8Array([
        ...ifinfomsg({ index: 3 }),
        ...attr(IFLA.IFNAME, cstr("vx0")),
        ...nested(IFLA.LINKINFO, [attr(IFLA_INFO.KIND, cstr("vxlan")), attr(IFLA_INFO.DATA, bytes(VXLAN_DATA))]),
      ]),
    );
    assert.equal(l.kind, "vxlan");
    assert.equal(l.vxlan?.vni, 7);
    assert.equal(decodeVxlanData(new Uint8Array()).learning, false);
  });

  it("ports are big-endian", () => {
    assert.equal(hex(be16(4789)), "12b5");
    assert.equal(readBe16(be16(8472)), 8472);
  });

  it("encodes an ndmsg and decodes a permanent neighbour and a vxlan FDB entry", () => {
    const h = ndmsg({ family: AF.BRIDGE, index: 3, state: NUD.PERMANENT, flags: NTF.SELF });
    assert.equal(hex(h), "07000000" + "03000000" + "8000" + "02" + "00");
    assert.deepEqual(decodeNdMsg(h), { family: AF.BRIDGE, index: 3, state: NUD.PERMANENT, flags: NTF.SELF, type: 0 });
    const names = new Map([[3, "vx0"]]);
    assert.deepEqual(decodeNeigh(bytes(NEIGH_V4), names), {
      dev: "vx0",
      ifindex: 3,
      family: 4,
      ip: "10.244.2.0",
      mac: "0e:00:00:00:00:02",
      state: NUD.PERMANENT,
      permanent: true,
      flags: 0,
    });
    assert.deepEqual(decodeFdb(bytes(FDB_VXLAN), names), {
      dev: "vx0",
      ifindex: 3,
      mac: "0e:00:00:00:00:02",
      dst: "10.200.2.1",
      state: NUD.PERMANENT,
      permanent: true,
      self: true,
      flags: NTF.SELF,
    });
    // each decoder takes only its own family
    assert.equal(decodeNeigh(bytes(FDB_VXLAN), names), undefined);
    assert.equal(decodeFdb(bytes(NEIGH_V4), names), undefined);
    // an entry without an address (an INCOMPLETE neighbour's lladdr, an FDB entry's MAC)
    const bare = new Uint8Array([
      ...ndmsg({ family: AF.INET6, index: 3, state: NUD.INCOMPLETE }),
      ...attr(NDA.DST, new Uint8Array(16)),
    ]);
    assert.deepEqual([decodeNeigh(bare, names)?.ip, decodeNeigh(bare, names)?.mac], ["::", undefined]);
    assert.equal(decodeFdb(ndmsg({ family: AF.BRIDGE, index: 3 }), names), undefined);
    assert.equal(decodeNeigh(new Uint8Array(4), names), undefined, "truncated");
  });
});

describe("names", () => {
  it("maps scopes and route types both ways", () => {
    for (const s of ["universe", "site", "link", "host", "nowhere"] as const)
      assert.equal(scopeName(scopeNumber(s)), s);
    assert.equal(scopeName(42), 42);
    for (const t of ["unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit", "throw"] as const) {
      assert.equal(routeTypeName(routeTypeNumber(t)), t);
    }
    assert.throws(() => routeTypeNumber("bogus" as never), RangeError);
  });
});
