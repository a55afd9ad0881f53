// NetOps over one netlink socket (one netns). The socket opens lazily on the first call.
import * as addrs from "./addrs.js";
import * as links from "./links.js";
import { netBatch } from "./net-batch.js";
import * as neigh from "./neigh.js";
import { routeGet } from "./route-get.js";
import type { NetlinkSocket } from "./netlink-socket.js";
import { IFF } from "./rtnl-codec.js";
import * as routes from "./routes.js";
import type { NetOps } from "./types.js";

export function createNetOps(s: NetlinkSocket): NetOps {
  return {
    netns: s.netns,
    async linkGet(name) {
      return links.linkGet(s, name);
    },
    async linkGetByIndex(index) {
      return links.linkGetByIndex(s, index);
    },
    async linkList() {
      return links.linkList(s);
    },
    async linkAddBridge(name, opts) {
      links.linkAddBridge(s, name, opts);
    },
    async linkAddVeth(name, peerName, opts) {
      links.linkAddVeth(s, name, peerName, opts);
    },
    async linkAddDummy(name, opts = {}) {
      links.linkAdd(s, "dummy", name, opts);
    },
    async linkAddIfb(name, opts = {}) {
      links.linkAdd(s, "ifb", name, opts);
    },
    async linkSetUp(name) {
      links.linkSetFlag(s, name, IFF.UP, true, "up");
    },
    async linkSetDown(name) {
      links.linkSetFlag(s, name, IFF.UP, false, "down");
    },
    async linkSetMtu(name, mtu) {
      links.linkSetMtu(s, name, mtu);
    },
    async linkSetMac(name, mac) {
      links.linkSetMac(s, name, mac);
    },
    async linkSetMaster(name, master) {
      links.linkSetMaster(s, name, master);
    },
    async linkSetNetns(name, netnsPath, opts) {
      links.linkSetNetns(s, name, netnsPath, opts?.newName);
    },
    async linkRename(oldName, newName) {
      links.linkRename(s, oldName, newName);
    },
    async linkSetPromisc(name, on) {
      links.linkSetFlag(s, name, IFF.PROMISC, on, `promisc ${on ? "on" : "off"}`);
    },
    async linkSetTxQLen(name, qlen) {
      links.linkSetTxQLen(s, name, qlen);
    },
    async linkSetAlias(name, alias) {
      links.linkSetAlias(s, name, alias);
    },
    async linkSetHairpin(name, on) {
      links.linkSetBridgePort(s, name, links.BRPORT_HAIRPIN, on, "hairpin");
    },
    async linkSetLearning(name, on) {
      links.linkSetBridgePort(s, name, links.BRPORT_LEARNING, on, "learning");
    },
    async linkSetVlanFiltering(name, on) {
      links.linkSetVlanFiltering(s, name, on);
    },
    async bridgeVlanAdd(name, vid, opts) {
      links.bridgeVlan(s, true, name, vid, opts);
    },
    async bridgeVlanDel(name, vid, opts) {
      links.bridgeVlan(s, false, name, vid, opts);
    },
    async linkDel(name) {
      links.linkDel(s, name);
    },
    async addrAdd(name, cidr, opts) {
      addrs.addrAdd(s, name, cidr, opts);
    },
    async addrReplace(name, cidr, opts) {
      addrs.addrAdd(s, name, cidr, opts, true);
    },
    async addrDel(name, cidr) {
      addrs.addrDel(s, name, cidr);
    },
    async addrList(name, family) {
      return addrs.addrList(s, name, family);
    },
    async routeAdd(r) {
      routes.routeModify(s, r, "add");
    },
    async routeReplace(r) {
      routes.routeModify(s, r, "replace");
    },
    async routeDel(r) {
      routes.routeModify(s, r, "del");
    },
    async routeList(filter) {
      return routes.routeList(s, filter);
    },
    async routeGet(address) {
      return routeGet(s, address);
    },
    async linkAddVxlan(name, opts) {
      links.linkAddVxlan(s, name, opts);
    },
    async neighList(filter) {
      return neigh.neighList(s, filter);
    },
    async neighReplace(n) {
      neigh.neighReplace(s, n);
    },
    async neighDel(n) {
      neigh.neighDel(s, n);
    },
    async fdbList(filter) {
      return neigh.fdbList(s, filter);
    },
    async fdbReplace(f) {
      neigh.fdbReplace(s, f);
    },
    async fdbDel(f) {
      neigh.fdbDel(s, f);
    },
    async batch(changes) {
      return netBatch(s, changes);
    },
    close() {
      s.close();
    },
  };
}
