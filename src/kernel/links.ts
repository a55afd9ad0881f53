// Link operations over rtnetlink (`ip link`, `bridge link`, `bridge vlan`). Links are addressed by
// name in the request itself (ifi_index 0 + IFLA_IFNAME), so most writes are one round trip.
import { closeSync, openSync } from "node:fs";
import { KernelError, fromSystemError } from "./errors.js";
import { parseMac } from "./inet.js";
import type { NetlinkSocket } from "./netlink-socket.js";
import { ipToBytes, tryParseIPExact } from "../ip/index.js";
import {
  AF,
  BRIDGE_FLAGS,
  BRIDGE_VLAN_INFO,
  IFF,
  IFLA,
  IFLA_BR,
  IFLA_BRIDGE,
  IFLA_BRPORT,
  IFLA_INFO,
  IFLA_VXLAN,
  NLM_F,
  RTEXT_FILTER,
  RTM,
  VETH_INFO_PEER,
  VXLAN_DEFAULT_PORT,
  attr,
  be16,
  concat,
  cstr,
  decodeIfInfoMsg,
  decodeLink,
  ifinfomsg,
  nested,
  rtmName,
  u16,
  u32,
  u8,
  type IfInfoMsg,
} from "./rtnl-codec.js";
import type {
  BridgeAddOptions,
  BridgeVlanOptions,
  Link,
  LinkAddOptions,
  VethAddOptions,
  VxlanAddOptions,
} from "./types.js";

const EXT_MASK = attr(IFLA.EXT_MASK, u32(RTEXT_FILTER.VF | RTEXT_FILTER.SKIP_STATS));

/** Validates an interface name as the kernel does (dev_valid_name), so the error names the value. */
export function checkLinkName(name: string): void {
  if (
    typeof name !== "string" ||
    name.length === 0 ||
    Buffer.byteLength(name) > 15 ||
    name === "." ||
    name === ".." ||
    /[/:\s]/.test(name)
  ) {
    throw new RangeError(`invalid link name ${JSON.stringify(name)}: must be 1-15 bytes without "/", ":" or spaces`);
  }
}

function macAttr(type: number, mac: string): Uint8Array {
  const b = parseMac(mac);
  if (!b) throw new RangeError(`invalid MAC address ${JSON.stringify(mac)}`);
  return attr(type, b);
}

function op(type: number, what: string, name: string): string {
  return `netlink ${rtmName(type)} ${what}${what ? " " : ""}${JSON.stringify(name)}`;
}

/** Opens a netns file for IFLA_NET_NS_FD; the caller closes it. */
function openNetns(path: string, what: string): number {
  try {
    return openSync(path, "r");
  } catch (e) {
    throw fromSystemError(`${what}: open netns ${JSON.stringify(path)}`, e);
  }
}

/** `ip -d link show dev NAME` */
export function linkGet(s: NetlinkSocket, name: string): Link | undefined {
  checkLinkName(name);
  try {
    const [m] = s.request(
      RTM.GETLINK,
      0,
      [ifinfomsg(), attr(IFLA.IFNAME, cstr(name)), EXT_MASK],
      op(RTM.GETLINK, "", name),
    );
    return m ? decodeLink(m.payload) : undefined;
  } catch (e) {
    if (e instanceof KernelError && e.errno === "ENODEV") return undefined;
    throw e;
  }
}

/** `ip -d link show` for one index */
export function linkGetByIndex(s: NetlinkSocket, index: number): Link | undefined {
  try {
    const [m] = s.request(RTM.GETLINK, 0, [ifinfomsg({ index }), EXT_MASK], `netlink RTM_GETLINK index ${index}`);
    return m ? decodeLink(m.payload) : undefined;
  } catch (e) {
    if (e instanceof KernelError && e.errno === "ENODEV") return undefined;
    throw e;
  }
}

/** `ip -d link show` */
export function linkList(s: NetlinkSocket): Link[] {
  return s
    .dump(RTM.GETLINK, [ifinfomsg(), EXT_MASK], "netlink RTM_GETLINK dump")
    .filter((m) => m.type === RTM.NEWLINK)
    .map((m) => decodeLink(m.payload));
}

/** index → name, for decoding addresses and routes. */
export function linkNames(s: NetlinkSocket): Map<number, string> {
  return new Map(linkList(s).map((l) => [l.index, l.name]));
}

/** The index of a link, or KernelError ENODEV naming the operation. */
export function linkIndex(s: NetlinkSocket, name: string, forOp: string): number {
  checkLinkName(name);
  try {
    // Only the header is needed: skip decoding the whole link.
    const [m] = s.request(RTM.GETLINK, 0, [ifinfomsg(), attr(IFLA.IFNAME, cstr(name)), EXT_MASK], forOp);
    if (m) return decodeIfInfoMsg(m.payload).index;
  } catch (e) {
    if (!(e instanceof KernelError && e.errno === "ENODEV")) throw e;
  }
  throw new KernelError(`${forOp}: link ${JSON.stringify(name)}`, "ENODEV");
}

function commonAttrs(name: string, o: LinkAddOptions): Uint8Array[] {
  const a = [attr(IFLA.IFNAME, cstr(name))];
  if (o.mtu !== undefined) a.push(attr(IFLA.MTU, u32(o.mtu)));
  if (o.mac !== undefined) a.push(macAttr(IFLA.ADDRESS, o.mac));
  if (o.txQLen !== undefined) a.push(attr(IFLA.TXQLEN, u32(o.txQLen)));
  return a;
}

/** `ip link add NAME [mtu M] [address MAC] [up] type KIND [data]` */
export function linkAdd(
  s: NetlinkSocket,
  kind: string,
  name: string,
  o: LinkAddOptions,
  infoData?: readonly Uint8Array[],
): void {
  checkLinkName(name);
  const info = [attr(IFLA_INFO.KIND, cstr(kind))];
  if (infoData) info.push(nested(IFLA_INFO.DATA, infoData));
  const hdr = o.up ? { flags: IFF.UP, change: IFF.UP } : {};
  s.ack(
    RTM.NEWLINK,
    NLM_F.CREATE | NLM_F.EXCL,
    [ifinfomsg(hdr), ...commonAttrs(name, o), nested(IFLA.LINKINFO, info)],
    op(RTM.NEWLINK, kind, name),
  );
}

/** `ip link add NAME type bridge [vlan_filtering 1]` */
export function linkAddBridge(s: NetlinkSocket, name: string, o: BridgeAddOptions = {}): void {
  const data = o.vlanFiltering !== undefined ? [attr(IFLA_BR.VLAN_FILTERING, u8(o.vlanFiltering ? 1 : 0))] : undefined;
  linkAdd(s, "bridge", name, o, data);
}

/** `ip link add NAME type veth peer name PEER [address PMAC] [netns NS]` */
export function linkAddVeth(s: NetlinkSocket, name: string, peerName: string, o: VethAddOptions = {}): void {
  checkLinkName(peerName);
  const what = op(RTM.NEWLINK, "veth", name);
  const fd = o.peerNetns !== undefined ? openNetns(o.peerNetns, what) : -1;
  try {
    const peer = [attr(IFLA.IFNAME, cstr(peerName))];
    const peerMtu = o.peerMtu ?? o.mtu;
    if (peerMtu !== undefined) peer.push(attr(IFLA.MTU, u32(peerMtu)));
    if (o.peerMac !== undefined) peer.push(macAttr(IFLA.ADDRESS, o.peerMac));
    if (o.txQLen !== undefined) peer.push(attr(IFLA.TXQLEN, u32(o.txQLen)));
    if (fd >= 0) peer.push(attr(IFLA.NET_NS_FD, u32(fd)));
    // VETH_INFO_PEER carries a whole ifinfomsg followed by the peer's attributes.
    linkAdd(s, "veth", name, o, [attr(VETH_INFO_PEER, concat([ifinfomsg(), ...peer]))]);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** `ip link add NAME [mtu M] [address MAC] type vxlan id VNI [local ADDR] [dev UNDERLAY] dstport PORT [no]learning` */
export function linkAddVxlan(s: NetlinkSocket, name: string, o: VxlanAddOptions): void {
  const what = op(RTM.NEWLINK, "vxlan", name);
  if (!Number.isInteger(o.vni) || o.vni < 0 || o.vni > 0xffffff)
    throw new RangeError(`${what}: invalid vni ${JSON.stringify(o.vni)}: must be 0..16777215`);
  const port = o.port ?? VXLAN_DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new RangeError(`${what}: invalid dstport ${JSON.stringify(o.port)}: must be 1..65535`);
  const data = [attr(IFLA_VXLAN.ID, u32(o.vni))];
  if (o.local !== undefined) {
    const local = tryParseIPExact(o.local);
    if (!local) throw new RangeError(`${what}: invalid local ${JSON.stringify(o.local)}`);
    data.push(attr(local.family === 4 ? IFLA_VXLAN.LOCAL : IFLA_VXLAN.LOCAL6, ipToBytes(local)));
  }
  if (o.dev !== undefined) data.push(attr(IFLA_VXLAN.LINK, u32(linkIndex(s, o.dev, what))));
  data.push(attr(IFLA_VXLAN.PORT, be16(port)), attr(IFLA_VXLAN.LEARNING, u8(o.learning === false ? 0 : 1)));
  linkAdd(s, "vxlan", name, o, data);
}

/** A change to an existing link, addressed by name: `ip link set dev NAME …` (RTM_NEWLINK without CREATE). */
function linkChange(s: NetlinkSocket, name: string, hdr: IfInfoMsg, attrs: readonly Uint8Array[], what: string): void {
  checkLinkName(name);
  s.ack(
    RTM.NEWLINK,
    0,
    [ifinfomsg(hdr), attr(IFLA.IFNAME, cstr(name)), ...attrs],
    `${op(RTM.NEWLINK, "", name)} ${what}`,
  );
}

/** `ip link set dev NAME up|down` */
export function linkSetFlag(s: NetlinkSocket, name: string, flag: number, on: boolean, what: string): void {
  linkChange(s, name, { flags: on ? flag : 0, change: flag }, [], what);
}

/** `ip link set dev NAME mtu MTU` */
export function linkSetMtu(s: NetlinkSocket, name: string, mtu: number): void {
  linkChange(s, name, {}, [attr(IFLA.MTU, u32(mtu))], `mtu ${mtu}`);
}

/** `ip link set dev NAME address MAC` */
export function linkSetMac(s: NetlinkSocket, name: string, mac: string): void {
  linkChange(s, name, {}, [macAttr(IFLA.ADDRESS, mac)], `address ${mac}`);
}

/** `ip link set dev NAME txqueuelen N` */
export function linkSetTxQLen(s: NetlinkSocket, name: string, qlen: number): void {
  linkChange(s, name, {}, [attr(IFLA.TXQLEN, u32(qlen))], `txqueuelen ${qlen}`);
}

/** `ip link set dev NAME alias TEXT` */
export function linkSetAlias(s: NetlinkSocket, name: string, alias: string): void {
  linkChange(s, name, {}, [attr(IFLA.IFALIAS, cstr(alias))], `alias ${JSON.stringify(alias)}`);
}

/** `ip link set dev NAME master BR` / `nomaster` */
export function linkSetMaster(s: NetlinkSocket, name: string, master: string | null): void {
  const what = master === null ? "nomaster" : `master ${JSON.stringify(master)}`;
  const idx = master === null ? 0 : linkIndex(s, master, `${op(RTM.NEWLINK, "", name)} ${what}`);
  linkChange(s, name, {}, [attr(IFLA.MASTER, u32(idx))], what);
}

/** `ip link set dev NAME netns NS [name NEW]` */
export function linkSetNetns(s: NetlinkSocket, name: string, netnsPath: string, newName?: string): void {
  const what = `netns ${JSON.stringify(netnsPath)}${newName ? ` name ${JSON.stringify(newName)}` : ""}`;
  const fd = openNetns(netnsPath, `${op(RTM.NEWLINK, "", name)} ${what}`);
  try {
    if (newName === undefined) {
      linkChange(s, name, {}, [attr(IFLA.NET_NS_FD, u32(fd))], what);
    } else {
      checkLinkName(newName);
      const idx = linkIndex(s, name, op(RTM.NEWLINK, "", name));
      s.ack(
        RTM.NEWLINK,
        0,
        [ifinfomsg({ index: idx }), attr(IFLA.IFNAME, cstr(newName)), attr(IFLA.NET_NS_FD, u32(fd))],
        `${op(RTM.NEWLINK, "", name)} ${what}`,
      );
    }
  } finally {
    closeSync(fd);
  }
}

/** `ip link set dev OLD name NEW` */
export function linkRename(s: NetlinkSocket, oldName: string, newName: string): void {
  checkLinkName(newName);
  const what = `${op(RTM.NEWLINK, "", oldName)} name ${JSON.stringify(newName)}`;
  const idx = linkIndex(s, oldName, what);
  s.ack(RTM.NEWLINK, 0, [ifinfomsg({ index: idx }), attr(IFLA.IFNAME, cstr(newName))], what);
}

/** `ip link set dev NAME type bridge_slave hairpin|learning on|off` (= `bridge link set …`) */
export function linkSetBridgePort(s: NetlinkSocket, name: string, brport: number, on: boolean, what: string): void {
  const info = [
    attr(IFLA_INFO.SLAVE_KIND, cstr("bridge")),
    nested(IFLA_INFO.SLAVE_DATA, [attr(brport, u8(on ? 1 : 0))]),
  ];
  linkChange(s, name, {}, [nested(IFLA.LINKINFO, info)], `${what} ${on ? "on" : "off"}`);
}

export const BRPORT_HAIRPIN = IFLA_BRPORT.MODE;
export const BRPORT_LEARNING = IFLA_BRPORT.LEARNING;

/** `ip link set dev BR type bridge vlan_filtering 0|1` */
export function linkSetVlanFiltering(s: NetlinkSocket, name: string, on: boolean): void {
  const info = [
    attr(IFLA_INFO.KIND, cstr("bridge")),
    nested(IFLA_INFO.DATA, [attr(IFLA_BR.VLAN_FILTERING, u8(on ? 1 : 0))]),
  ];
  linkChange(s, name, {}, [nested(IFLA.LINKINFO, info)], `type bridge vlan_filtering ${on ? 1 : 0}`);
}

/** `bridge vlan add|del dev NAME vid VID [pvid] [untagged] [self]` */
export function bridgeVlan(s: NetlinkSocket, add: boolean, name: string, vid: number, o: BridgeVlanOptions = {}): void {
  if (!Number.isInteger(vid) || vid < 1 || vid > 4094) throw new RangeError(`invalid VLAN id ${vid}: must be 1..4094`);
  const type = add ? RTM.SETLINK : RTM.DELLINK;
  const what = `${op(type, "bridge vlan", name)} vid ${vid}`;
  const idx = linkIndex(s, name, what);
  let vflags = 0;
  if (o.pvid) vflags |= BRIDGE_VLAN_INFO.PVID;
  if (o.untagged) vflags |= BRIDGE_VLAN_INFO.UNTAGGED;
  const spec = [
    attr(IFLA_BRIDGE.FLAGS, u16(o.self ? BRIDGE_FLAGS.SELF : BRIDGE_FLAGS.MASTER)),
    attr(IFLA_BRIDGE.VLAN_INFO, concat([u16(vflags), u16(vid)])),
  ];
  s.ack(type, 0, [ifinfomsg({ family: AF.BRIDGE, index: idx }), nested(IFLA.AF_SPEC, spec)], what);
}

/** `ip link del dev NAME` */
export function linkDel(s: NetlinkSocket, name: string): void {
  checkLinkName(name);
  s.ack(RTM.DELLINK, 0, [ifinfomsg(), attr(IFLA.IFNAME, cstr(name))], op(RTM.DELLINK, "", name));
}
