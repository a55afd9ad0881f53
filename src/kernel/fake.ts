// An in-memory Kernel for unit tests of plugins and the node manager. Same interface as the real one,
// same error classes (KernelError with the errno the kernel would return), and a record of every call
// written as the iproute2 command it stands for. It models what plugins depend on:
//   - each netns starts with "lo" (down), indexes are per netns;
//   - a veth's two ends know each other (linkIndex, linkNetnsId), deleting one deletes both;
//   - moving a link to another netns drops its addresses and routes;
//   - a link going down drops its routes; an address on an up link adds its prefix route;
//   - an IPv4 route via a gateway needs the gateway to be reachable on-link (unless `onlink`);
//   - duplicate links/addresses/routes → EEXIST; missing ones → ENODEV / EADDRNOTAVAIL / ESRCH;
//   - permanent neighbours (gone when their link goes down or away) and a vxlan device's own FDB
//     entries (one remote per MAC, as `bridge fdb replace` leaves it);
//   - `ip route get`: the longest prefix of the main table, its source address.
// It is not a network simulator: no packets, learned neighbours or netfilter.
import { KernelError } from "./errors.js";
import { cidrBroadcast, formatIPExact, networkOf, tryParseIPExact } from "../ip/index.js";
import { inetNetwork, inetPrefix, parseMac } from "./inet.js";
import { VXLAN_DEFAULT_PORT, scopeName, scopeNumber } from "./rtnl-codec.js";
import { sysctlKey } from "./sysctl.js";
import { netnsPath } from "./netns.js";
import type {
  Addr,
  AddrAddOptions,
  AddrFamily,
  FdbEntry,
  FileLock,
  Kernel,
  Link,
  LockOptions,
  Neigh,
  NetBatchOp,
  NetOps,
  Route,
  RouteFilter,
  RouteLookup,
  RouteSpec,
  VxlanInfo,
} from "./types.js";

interface FakeLink {
  name: string;
  index: number;
  kind: string;
  mtu: number;
  mac: string;
  up: boolean;
  promisc: boolean;
  txQLen: number;
  alias?: string;
  masterIndex?: number;
  hairpin?: boolean;
  learning?: boolean;
  vlanFiltering?: boolean;
  vxlan?: VxlanInfo;
  /** veth peer: the netns key and the peer's object. */
  peer?: { ns: FakeNetns; link: FakeLink };
  vlans: Map<number, { pvid: boolean; untagged: boolean }>;
}

interface FakeAddr {
  ifindex: number;
  family: AddrFamily;
  address: string;
  prefixLen: number;
  broadcast?: string;
  peer?: string;
  label?: string;
  scope: number;
  noDad: boolean;
}

interface FakeNeigh {
  ifindex: number;
  family: AddrFamily;
  ip: string;
  mac: string;
}

interface FakeFdb {
  ifindex: number;
  mac: string;
  dst: string;
}

interface FakeRoute {
  family: AddrFamily;
  dst: string;
  gw?: string;
  ifindex?: number;
  scope: number;
  table: number;
  protocol: number;
  src?: string;
  metric?: number;
  mtu?: number;
  type: string;
  onlink: boolean;
}

/** One fake network namespace; exposed read-only for assertions. */
export interface FakeNetns {
  readonly path: string | null;
  readonly links: Map<string, FakeLink>;
  readonly addrs: FakeAddr[];
  readonly routes: FakeRoute[];
  /** Permanent neighbours (`ip neigh … nud permanent`). */
  readonly neighs: FakeNeigh[];
  /** vxlan devices' own FDB entries (`bridge fdb … self permanent`). */
  readonly fdb: FakeFdb[];
  readonly sysctls: Map<string, string>;
  nextIndex: number;
}

export interface FakeKernel extends Kernel {
  /** Every operation, as `[NETNS] ip …` (NETNS "host" for null); reads included. */
  readonly calls: string[];
  /** Makes a namespace exist at `path` (with "lo"). */
  addNetns(path: string): FakeNetns;
  removeNetns(path: string): void;
  /** The state of one netns; throws if it does not exist. */
  state(path: string | null): FakeNetns;
  /** Deterministic text of a netns, for golden assertions (see `dumpNetns`). */
  dump(path: string | null): string;
  /** The next `times` (default 1) calls whose text matches fail with `errno`. */
  failOn(match: string | RegExp, errno: string, times?: number): void;
  /** Paths currently locked, with the number of holders. */
  readonly locks: ReadonlyMap<string, number>;
}

const DEFAULT_SYSCTLS: Record<string, string> = {
  "net/ipv4/ip_forward": "0",
  "net/ipv6/conf/all/forwarding": "0",
  "net/ipv4/conf/all/route_localnet": "0",
  "net/ipv4/conf/all/rp_filter": "0",
  "net/bridge/bridge-nf-call-iptables": "0",
};

/** The process's own netns, however it is named. */
function selfToNull(path: string | null): string | null {
  return path === "/proc/self/ns/net" || path === "/proc/thread-self/ns/net" ? null : path;
}

const PER_LINK_SYSCTL = /^net\/(ipv4|ipv6)\/(conf|neigh)\/([^/]+)\//;

function sameCidr(a: string, b: string): boolean {
  const p = inetPrefix(a),
    q = inetPrefix(b);
  return !!p && !!q && p.ip.family === q.ip.family && p.prefix === q.prefix && p.ip.value === q.ip.value;
}

function normDst(dst: string, family: AddrFamily | undefined): { family: AddrFamily; cidr: string } | undefined {
  if (dst === "default") return (family ?? 4) === 4 ? { family: 4, cidr: "0.0.0.0/0" } : { family: 6, cidr: "::/0" };
  const p = inetPrefix(dst);
  if (!p) return undefined;
  return { family: p.ip.family, cidr: `${formatIPExact(p.ip)}/${p.prefix}` };
}

/** The kernel's view: the families never mix (an IPv4-mapped address is IPv6). */
function contains(cidr: string, ip: string): boolean {
  const p = inetPrefix(cidr),
    a = tryParseIPExact(ip);
  return !!p && !!a && p.ip.family === a.family && networkOf(a, p.prefix).value === p.network.value;
}

export function createFakeKernel(opts: { netns?: readonly string[] } = {}): FakeKernel {
  const namespaces = new Map<string | null, FakeNetns>();
  const calls: string[] = [];
  const failures: { match: string | RegExp; errno: string; times: number }[] = [];
  const locks = new Map<string, { shared: boolean; count: number }>();
  const lockWaiters = new Map<string, (() => void)[]>();
  let macCounter = 0;

  const nextMac = () => {
    macCounter++;
    return `0a:fa:ce:00:${((macCounter >> 8) & 0xff).toString(16).padStart(2, "0")}:${(macCounter & 0xff).toString(16).padStart(2, "0")}`;
  };

  function newNetns(path: string | null): FakeNetns {
    const ns: FakeNetns = {
      path,
      links: new Map(),
      addrs: [],
      routes: [],
      neighs: [],
      fdb: [],
      sysctls: new Map(Object.entries(DEFAULT_SYSCTLS)),
      nextIndex: 2,
    };
    ns.links.set("lo", {
      name: "lo",
      index: 1,
      kind: "loopback",
      mtu: 65536,
      mac: "00:00:00:00:00:00",
      up: false,
      promisc: false,
      txQLen: 1000,
      vlans: new Map(),
    });
    namespaces.set(path, ns);
    return ns;
  }
  newNetns(null);
  for (const p of opts.netns ?? []) newNetns(p);

  const label = (path: string | null) => (path === null ? "host" : path);

  /** Records the call and applies injected failures. */
  function record(path: string | null, text: string): string {
    const line = `[${label(path)}] ${text}`;
    calls.push(line);
    for (const f of failures) {
      if (f.times > 0 && (typeof f.match === "string" ? line.includes(f.match) : f.match.test(line))) {
        f.times--;
        throw new KernelError(text, f.errno);
      }
    }
    return text;
  }

  function nsOf(path: string | null, op: string): FakeNetns {
    const ns = namespaces.get(selfToNull(path));
    if (!ns) throw new KernelError(`${op}: open netns ${JSON.stringify(path)}`, "ENOENT");
    return ns;
  }

  function getLink(ns: FakeNetns, name: string, op: string): FakeLink {
    const l = ns.links.get(name);
    if (!l) throw new KernelError(op, "ENODEV");
    return l;
  }

  function byIndex(ns: FakeNetns, index: number): FakeLink | undefined {
    for (const l of ns.links.values()) if (l.index === index) return l;
    return undefined;
  }

  function nsOfLink(l: FakeLink): FakeNetns {
    for (const ns of namespaces.values()) if (ns.links.get(l.name) === l) return ns;
    throw new Error("fake kernel: orphan link");
  }

  function toLink(ns: FakeNetns, l: FakeLink): Link {
    const peerNs = l.peer ? nsOfLink(l.peer.link) : undefined;
    const master = l.masterIndex !== undefined ? byIndex(ns, l.masterIndex) : undefined;
    const operUp = l.up && (l.kind !== "veth" || (l.peer?.link.up ?? false));
    return {
      name: l.name,
      index: l.index,
      kind: l.kind,
      mtu: l.mtu,
      mac: l.mac,
      up: l.up,
      operstate: l.kind === "loopback" ? (l.up ? "unknown" : "down") : operUp ? "up" : l.up ? "lowerlayerdown" : "down",
      flags: (l.up ? 1 : 0) | (l.promisc ? 0x100 : 0) | (l.kind === "loopback" ? 0x8 : 0x1002),
      promisc: l.promisc,
      txQLen: l.txQLen,
      ...(l.masterIndex !== undefined ? { masterIndex: l.masterIndex } : {}),
      ...(l.peer ? { linkIndex: l.peer.link.index } : {}),
      ...(l.peer && peerNs !== ns ? { linkNetnsId: 0 } : {}),
      ...(master?.kind === "bridge"
        ? { slaveKind: "bridge", hairpin: l.hairpin ?? false, learning: l.learning ?? true }
        : {}),
      ...(l.kind === "bridge" ? { vlanFiltering: l.vlanFiltering ?? false } : {}),
      ...(l.vxlan ? { vxlan: { ...l.vxlan } } : {}),
      ...(l.alias !== undefined ? { alias: l.alias } : {}),
    };
  }

  function checkMtu(mtu: number | undefined, op: string) {
    if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)) {
      throw new KernelError(op, "EINVAL", { extack: `mtu ${mtu} out of range` });
    }
  }

  function checkMac(mac: string | undefined, op: string) {
    if (mac !== undefined && parseMac(mac)?.length !== 6)
      throw new RangeError(`${op}: invalid MAC address ${JSON.stringify(mac)}`);
  }

  function checkMac6(mac: string, op: string) {
    if (typeof mac !== "string" || parseMac(mac)?.length !== 6)
      throw new RangeError(`${op}: invalid MAC address ${JSON.stringify(mac)}`);
  }

  function checkName(name: string) {
    if (name.length === 0 || Buffer.byteLength(name) > 15 || /[/:\s]/.test(name) || name === "." || name === "..") {
      throw new RangeError(`invalid link name ${JSON.stringify(name)}: must be 1-15 bytes without "/", ":" or spaces`);
    }
  }

  function addLink(
    ns: FakeNetns,
    name: string,
    kind: string,
    o: { mtu?: number; mac?: string; up?: boolean; txQLen?: number },
    op: string,
  ): FakeLink {
    checkName(name);
    if (ns.links.has(name)) throw new KernelError(op, "EEXIST");
    checkMtu(o.mtu, op);
    checkMac(o.mac, op);
    const l: FakeLink = {
      name,
      index: ns.nextIndex++,
      kind,
      mtu: o.mtu ?? 1500,
      mac: (o.mac ?? nextMac()).toLowerCase(),
      up: o.up ?? false,
      promisc: false,
      txQLen: o.txQLen ?? (kind === "ifb" ? 32 : 1000),
      vlans: new Map(),
    };
    ns.links.set(name, l);
    return l;
  }

  function dropLinkState(ns: FakeNetns, l: FakeLink) {
    for (let i = ns.addrs.length - 1; i >= 0; i--) if (ns.addrs[i]!.ifindex === l.index) ns.addrs.splice(i, 1);
    dropRoutes(ns, l.index);
    dropNeighs(ns, l.index);
    for (let i = ns.fdb.length - 1; i >= 0; i--) if (ns.fdb[i]!.ifindex === l.index) ns.fdb.splice(i, 1);
    for (const o of ns.links.values()) {
      if (o.masterIndex === l.index) {
        delete o.masterIndex;
        delete o.hairpin;
        delete o.learning;
      }
    }
  }

  /** The kernel flushes a link's neighbours, permanent ones included, when it goes down (neigh_ifdown). */
  function dropNeighs(ns: FakeNetns, ifindex: number) {
    for (let i = ns.neighs.length - 1; i >= 0; i--) if (ns.neighs[i]!.ifindex === ifindex) ns.neighs.splice(i, 1);
  }

  function dropRoutes(ns: FakeNetns, ifindex: number) {
    for (let i = ns.routes.length - 1; i >= 0; i--) if (ns.routes[i]!.ifindex === ifindex) ns.routes.splice(i, 1);
  }

  function removeLink(ns: FakeNetns, l: FakeLink) {
    dropLinkState(ns, l);
    ns.links.delete(l.name);
    if (l.peer) {
      const p = l.peer;
      delete p.link.peer;
      if (p.ns.links.get(p.link.name) === p.link) {
        dropLinkState(p.ns, p.link);
        p.ns.links.delete(p.link.name);
      }
    }
  }

  /** Prefix routes the kernel adds for an address on an up link. */
  function addPrefixRoute(ns: FakeNetns, a: FakeAddr) {
    if (a.prefixLen === (a.family === 4 ? 32 : 128)) return;
    const dst = inetNetwork(inetPrefix(`${a.address}/${a.prefixLen}`)!);
    if (ns.routes.some((r) => r.table === 254 && r.dst === dst && r.ifindex === a.ifindex)) return;
    ns.routes.push({
      family: a.family,
      dst,
      ifindex: a.ifindex,
      scope: a.family === 4 ? 253 : 0,
      table: 254,
      protocol: 2,
      ...(a.family === 4 ? { src: a.address } : { metric: 256 }),
      type: "unicast",
      onlink: false,
    });
  }

  function netOps(path: string | null): NetOps {
    const ns = () => nsOf(path, "netlink");
    const linkOp = (name: string, what: string) => record(path, `ip link set dev ${name} ${what}`);
    const setLink = (name: string, what: string, f: (l: FakeLink, n: FakeNetns) => void) => {
      const op = linkOp(name, what);
      const n = ns();
      f(getLink(n, name, op), n);
    };
    const port = (l: FakeLink, n: FakeNetns, op: string) => {
      const m = l.masterIndex !== undefined ? byIndex(n, l.masterIndex) : undefined;
      if (m?.kind !== "bridge") throw new KernelError(op, "EOPNOTSUPP");
    };

    const ops: NetOps = {
      netns: path,
      async linkGet(name) {
        record(path, `ip -d link show dev ${name}`);
        const n = ns();
        const l = n.links.get(name);
        return l && toLink(n, l);
      },
      async linkGetByIndex(index) {
        record(path, `ip -d link show index ${index}`);
        const n = ns();
        const l = byIndex(n, index);
        return l && toLink(n, l);
      },
      async linkList() {
        record(path, "ip -d link show");
        const n = ns();
        return [...n.links.values()].sort((a, b) => a.index - b.index).map((l) => toLink(n, l));
      },
      async linkAddBridge(name, o = {}) {
        const op = record(path, `ip link add ${name} type bridge${o.vlanFiltering ? " vlan_filtering 1" : ""}`);
        const l = addLink(ns(), name, "bridge", o, op);
        l.vlanFiltering = o.vlanFiltering ?? false;
      },
      async linkAddVeth(name, peerName, o = {}) {
        const op = record(
          path,
          `ip link add ${name} type veth peer name ${peerName}${o.peerNetns ? ` netns ${o.peerNetns}` : ""}`,
        );
        const n = ns();
        checkName(peerName);
        const pn = o.peerNetns !== undefined ? nsOf(o.peerNetns, op) : n;
        if (n.links.has(name) || pn.links.has(peerName) || (pn === n && name === peerName))
          throw new KernelError(op, "EEXIST");
        checkMtu(o.peerMtu, op);
        checkMac(o.peerMac, op);
        const a = addLink(n, name, "veth", o, op);
        const peerOpts = {
          ...((o.peerMtu ?? o.mtu) !== undefined ? { mtu: (o.peerMtu ?? o.mtu)! } : {}),
          ...(o.peerMac ? { mac: o.peerMac } : {}),
          ...(o.txQLen !== undefined ? { txQLen: o.txQLen } : {}),
        };
        const b = addLink(pn, peerName, "veth", peerOpts, op);
        a.peer = { ns: pn, link: b };
        b.peer = { ns: n, link: a };
      },
      async linkAddDummy(name, o = {}) {
        addLink(ns(), name, "dummy", o, record(path, `ip link add ${name} type dummy`));
      },
      async linkAddIfb(name, o = {}) {
        addLink(ns(), name, "ifb", o, record(path, `ip link add ${name} type ifb`));
      },
      async linkSetUp(name) {
        setLink(name, "up", (l, n) => {
          if (l.up) return;
          l.up = true;
          for (const a of n.addrs) if (a.ifindex === l.index) addPrefixRoute(n, a);
        });
      },
      async linkSetDown(name) {
        setLink(name, "down", (l, n) => {
          l.up = false;
          dropRoutes(n, l.index);
          dropNeighs(n, l.index);
        });
      },
      async linkSetMtu(name, mtu) {
        const op = linkOp(name, `mtu ${mtu}`);
        checkMtu(mtu, op);
        getLink(ns(), name, op).mtu = mtu;
      },
      async linkSetMac(name, mac) {
        const op = linkOp(name, `address ${mac}`);
        checkMac(mac, op);
        getLink(ns(), name, op).mac = mac.toLowerCase();
      },
      async linkSetMaster(name, master) {
        const op = linkOp(name, master === null ? "nomaster" : `master ${master}`);
        const n = ns();
        const l = getLink(n, name, op);
        if (master === null) {
          delete l.masterIndex;
          delete l.hairpin;
          delete l.learning;
          return;
        }
        const m = getLink(n, master, op);
        if (m.kind !== "bridge" || m === l) throw new KernelError(op, "EOPNOTSUPP");
        l.masterIndex = m.index;
        l.hairpin = false;
        l.learning = true;
      },
      async linkSetNetns(name, target, o) {
        const op = linkOp(name, `netns ${target}${o?.newName ? ` name ${o.newName}` : ""}`);
        const n = ns();
        const l = getLink(n, name, op);
        const t = nsOf(target, op);
        const newName = o?.newName ?? name;
        if (o?.newName) checkName(newName);
        if (t === n) {
          if (newName !== name) {
            if (n.links.has(newName)) throw new KernelError(op, "EEXIST");
            n.links.delete(name);
            l.name = newName;
            n.links.set(newName, l);
          }
          return;
        }
        if (t.links.has(newName)) throw new KernelError(op, "EEXIST");
        dropLinkState(n, l);
        n.links.delete(name);
        delete l.masterIndex;
        delete l.hairpin;
        delete l.learning;
        l.up = false;
        l.name = newName;
        if (byIndex(t, l.index)) l.index = t.nextIndex++;
        else t.nextIndex = Math.max(t.nextIndex, l.index + 1);
        t.links.set(newName, l);
        if (l.peer) l.peer.link.peer = { ns: t, link: l };
      },
      async linkRename(oldName, newName) {
        const op = linkOp(oldName, `name ${newName}`);
        checkName(newName);
        const n = ns();
        const l = getLink(n, oldName, op);
        if (oldName === newName) return;
        if (n.links.has(newName)) throw new KernelError(op, "EEXIST");
        if (l.up) throw new KernelError(op, "EBUSY");
        n.links.delete(oldName);
        l.name = newName;
        n.links.set(newName, l);
      },
      async linkSetPromisc(name, on) {
        setLink(name, `promisc ${on ? "on" : "off"}`, (l) => {
          l.promisc = on;
        });
      },
      async linkSetTxQLen(name, qlen) {
        setLink(name, `txqueuelen ${qlen}`, (l) => {
          l.txQLen = qlen;
        });
      },
      async linkSetAlias(name, alias) {
        setLink(name, `alias ${alias}`, (l) => {
          l.alias = alias;
        });
      },
      async linkSetHairpin(name, on) {
        const op = record(path, `bridge link set dev ${name} hairpin ${on ? "on" : "off"}`);
        const n = ns();
        const l = getLink(n, name, op);
        port(l, n, op);
        l.hairpin = on;
      },
      async linkSetLearning(name, on) {
        const op = record(path, `bridge link set dev ${name} learning ${on ? "on" : "off"}`);
        const n = ns();
        const l = getLink(n, name, op);
        port(l, n, op);
        l.learning = on;
      },
      async linkSetVlanFiltering(name, on) {
        const op = linkOp(name, `type bridge vlan_filtering ${on ? 1 : 0}`);
        const l = getLink(ns(), name, op);
        if (l.kind !== "bridge") throw new KernelError(op, "EOPNOTSUPP");
        l.vlanFiltering = on;
      },
      async bridgeVlanAdd(name, vid, o = {}) {
        const flags = `${o.pvid ? " pvid" : ""}${o.untagged ? " untagged" : ""}${o.self ? " self" : ""}`;
        const op = record(path, `bridge vlan add dev ${name} vid ${vid}${flags}`);
        if (!Number.isInteger(vid) || vid < 1 || vid > 4094)
          throw new RangeError(`invalid VLAN id ${vid}: must be 1..4094`);
        const n = ns();
        const l = getLink(n, name, op);
        if (!o.self) port(l, n, op);
        else if (l.kind !== "bridge") throw new KernelError(op, "EOPNOTSUPP");
        if (o.pvid) for (const v of l.vlans.values()) v.pvid = false;
        l.vlans.set(vid, { pvid: o.pvid ?? false, untagged: o.untagged ?? false });
      },
      async bridgeVlanDel(name, vid, o = {}) {
        const op = record(path, `bridge vlan del dev ${name} vid ${vid}${o.self ? " self" : ""}`);
        const l = getLink(ns(), name, op);
        if (!l.vlans.delete(vid)) throw new KernelError(op, "ENOENT");
      },
      async linkDel(name) {
        const op = record(path, `ip link del dev ${name}`);
        const n = ns();
        const l = getLink(n, name, op);
        if (l.kind === "loopback") throw new KernelError(op, "EOPNOTSUPP");
        removeLink(n, l);
      },

      async addrAdd(name, cidr, o) {
        addAddr(name, cidr, o ?? {}, false);
      },
      async addrReplace(name, cidr, o) {
        addAddr(name, cidr, o ?? {}, true);
      },
      async addrDel(name, cidr) {
        const op = record(path, `ip addr del ${cidr} dev ${name}`);
        const n = ns();
        const l = getLink(n, name, op);
        const p = inetPrefix(cidr);
        if (!p) throw new RangeError(`${op}: invalid address ${JSON.stringify(cidr)}`);
        const ip = formatIPExact(p.ip);
        const i = n.addrs.findIndex((a) => a.ifindex === l.index && a.address === ip && a.prefixLen === p.prefix);
        if (i < 0) throw new KernelError(op, "EADDRNOTAVAIL");
        n.addrs.splice(i, 1);
        const dst = inetNetwork(p);
        if (!n.addrs.some((a) => a.ifindex === l.index && contains(dst, a.address) && a.prefixLen === p.prefix)) {
          const r = n.routes.findIndex((r) => r.protocol === 2 && r.dst === dst && r.ifindex === l.index);
          if (r >= 0) n.routes.splice(r, 1);
        }
      },
      async addrList(name, family) {
        record(path, `ip${family ? ` -${family}` : ""} addr show${name !== undefined ? ` dev ${name}` : ""}`);
        const n = ns();
        let only: number | undefined;
        if (name !== undefined) only = getLink(n, name, `netlink RTM_GETADDR dev ${JSON.stringify(name)}`).index;
        return n.addrs
          .filter((a) => (only === undefined || a.ifindex === only) && (family === undefined || a.family === family))
          .map((a): Addr => {
            const flags = 0x80 | (a.noDad ? 0x2 : 0);
            return {
              dev: byIndex(n, a.ifindex)?.name ?? "",
              ifindex: a.ifindex,
              family: a.family,
              address: a.address,
              prefixLen: a.prefixLen,
              cidr: `${a.address}/${a.prefixLen}`,
              ...(a.peer ? { peer: a.peer } : {}),
              ...(a.broadcast ? { broadcast: a.broadcast } : {}),
              ...(a.label ? { label: a.label } : {}),
              scope: scopeName(a.scope),
              flags,
              permanent: true,
              tentative: false,
              dadFailed: false,
              noDad: a.noDad,
            };
          });
      },

      async routeAdd(r) {
        modifyRoute(r, "add");
      },
      async routeReplace(r) {
        modifyRoute(r, "replace");
      },
      async routeDel(r) {
        modifyRoute(r, "del");
      },
      async routeList(f: RouteFilter = {}) {
        record(
          path,
          `ip${f.family ? ` -${f.family}` : ""} route show${f.table !== undefined ? ` table ${f.table || "all"}` : ""}${f.dev ? ` dev ${f.dev}` : ""}`,
        );
        const n = ns();
        const table = f.table ?? 254;
        const dev = f.dev !== undefined ? (n.links.get(f.dev)?.index ?? -1) : undefined;
        return n.routes
          .filter(
            (r) =>
              (table === 0 || r.table === table) &&
              (f.family === undefined || r.family === f.family) &&
              (dev === undefined || r.ifindex === dev) &&
              (f.protocol === undefined || r.protocol === f.protocol) &&
              (f.type === undefined || r.type === f.type) &&
              (f.dst === undefined || (f.dst === "default" ? inetPrefix(r.dst)!.prefix === 0 : sameCidr(r.dst, f.dst))),
          )
          .map(
            (r): Route => ({
              family: r.family,
              dst: r.dst,
              ...(r.gw ? { gw: r.gw } : {}),
              ...(r.ifindex !== undefined ? { dev: byIndex(n, r.ifindex)?.name ?? "", ifindex: r.ifindex } : {}),
              scope: scopeName(r.scope),
              table: r.table,
              protocol: r.protocol,
              ...(r.src ? { src: r.src } : {}),
              ...(r.metric !== undefined ? { metric: r.metric } : {}),
              ...(r.mtu !== undefined ? { mtu: r.mtu } : {}),
              type: r.type as Route["type"],
              flags: r.onlink ? 4 : 0,
            }),
          );
      },
      async routeGet(address) {
        record(path, `ip route get ${address}`);
        const ip = typeof address === "string" ? tryParseIPExact(address) : undefined;
        if (!ip) throw new RangeError(`route get: invalid address ${JSON.stringify(address)}`);
        const n = ns();
        // Longest prefix first, then the lowest metric.
        const rank = (r: FakeRoute) => inetPrefix(r.dst)!.prefix * 2 ** 32 - (r.metric ?? 0);
        let best: FakeRoute | undefined;
        for (const r of n.routes) {
          if (
            r.table !== 254 ||
            r.family !== ip.family ||
            r.type !== "unicast" ||
            r.ifindex === undefined ||
            !contains(r.dst, address)
          )
            continue;
          if (!best || rank(r) > rank(best)) best = r;
        }
        if (!best) return undefined;
        const own = n.addrs.filter((a) => a.family === ip.family && a.scope === 0);
        const src = best.src ?? (own.find((a) => a.ifindex === best.ifindex) ?? own[0])?.address;
        const out: RouteLookup = {
          dev: byIndex(n, best.ifindex!)?.name ?? "",
          ifindex: best.ifindex!,
          table: 254,
          ...(src ? { src } : {}),
          ...(best.gw ? { gw: best.gw } : {}),
        };
        return out;
      },

      async linkAddVxlan(name, o) {
        const desc = `id ${o.vni}${o.local ? ` local ${o.local}` : ""}${o.dev ? ` dev ${o.dev}` : ""} dstport ${o.port ?? VXLAN_DEFAULT_PORT}${o.learning === false ? " nolearning" : ""}`;
        const op = record(path, `ip link add ${name} type vxlan ${desc}`);
        if (!Number.isInteger(o.vni) || o.vni < 0 || o.vni > 0xffffff)
          throw new RangeError(`${op}: invalid vni ${JSON.stringify(o.vni)}: must be 0..16777215`);
        const port = o.port ?? VXLAN_DEFAULT_PORT;
        if (!Number.isInteger(port) || port < 1 || port > 65535)
          throw new RangeError(`${op}: invalid dstport ${JSON.stringify(o.port)}: must be 1..65535`);
        const local = o.local !== undefined ? tryParseIPExact(o.local) : undefined;
        if (o.local !== undefined && !local) throw new RangeError(`${op}: invalid local ${JSON.stringify(o.local)}`);
        const n = ns();
        const under = o.dev !== undefined ? getLink(n, o.dev, op) : undefined;
        const overhead = local?.family === 6 ? 70 : 50;
        const l = addLink(
          n,
          name,
          "vxlan",
          {
            mtu: o.mtu ?? (under ? under.mtu - overhead : 1450),
            ...(o.mac ? { mac: o.mac } : {}),
            ...(o.up ? { up: true } : {}),
            ...(o.txQLen !== undefined ? { txQLen: o.txQLen } : {}),
          },
          op,
        );
        l.vxlan = {
          vni: o.vni,
          ...(local ? { local: formatIPExact(local) } : {}),
          ...(under ? { underlayIndex: under.index } : {}),
          port,
          learning: o.learning !== false,
        };
      },

      async neighList(f = {}) {
        record(path, `ip${f.family ? ` -${f.family}` : ""} neigh show${f.dev !== undefined ? ` dev ${f.dev}` : ""}`);
        const n = ns();
        const dev = f.dev !== undefined ? (n.links.get(f.dev)?.index ?? -1) : undefined;
        return n.neighs
          .filter((x) => (dev === undefined || x.ifindex === dev) && (f.family === undefined || x.family === f.family))
          .map(
            (x): Neigh => ({
              dev: byIndex(n, x.ifindex)?.name ?? "",
              ifindex: x.ifindex,
              family: x.family,
              ip: x.ip,
              mac: x.mac,
              state: 0x80,
              permanent: true,
              flags: 0,
            }),
          );
      },
      async neighReplace(x) {
        const op = record(path, `ip neigh replace ${x.ip} lladdr ${x.mac} dev ${x.dev} nud permanent`);
        const ip = typeof x.ip === "string" ? tryParseIPExact(x.ip) : undefined;
        if (!ip) throw new RangeError(`${op}: invalid address ${JSON.stringify(x.ip)}`);
        checkMac6(x.mac, op);
        const n = ns();
        const l = getLink(n, x.dev, op);
        const e: FakeNeigh = { ifindex: l.index, family: ip.family, ip: formatIPExact(ip), mac: x.mac.toLowerCase() };
        const i = n.neighs.findIndex((y) => y.ifindex === l.index && y.ip === e.ip);
        if (i >= 0) n.neighs.splice(i, 1, e);
        else n.neighs.push(e);
      },
      async neighDel(x) {
        const op = record(path, `ip neigh del ${x.ip} dev ${x.dev}`);
        const ip = typeof x.ip === "string" ? tryParseIPExact(x.ip) : undefined;
        if (!ip) throw new RangeError(`${op}: invalid address ${JSON.stringify(x.ip)}`);
        const n = ns();
        const l = getLink(n, x.dev, op);
        const i = n.neighs.findIndex((y) => y.ifindex === l.index && y.ip === formatIPExact(ip));
        if (i < 0) throw new KernelError(op, "ENOENT");
        n.neighs.splice(i, 1);
      },

      async fdbList(f = {}) {
        record(path, `bridge fdb show${f.dev !== undefined ? ` brport ${f.dev}` : ""}`);
        const n = ns();
        const dev = f.dev !== undefined ? (n.links.get(f.dev)?.index ?? -1) : undefined;
        return n.fdb
          .filter((x) => dev === undefined || x.ifindex === dev)
          .map(
            (x): FdbEntry => ({
              dev: byIndex(n, x.ifindex)?.name ?? "",
              ifindex: x.ifindex,
              mac: x.mac,
              dst: x.dst,
              state: 0x80,
              permanent: true,
              self: true,
              flags: 0x02,
            }),
          );
      },
      async fdbReplace(x) {
        const op = record(path, `bridge fdb replace ${x.mac} dev ${x.dev} dst ${x.dst} self permanent`);
        checkMac6(x.mac, op);
        const dst = typeof x.dst === "string" ? tryParseIPExact(x.dst) : undefined;
        if (!dst) throw new RangeError(`${op}: invalid dst ${JSON.stringify(x.dst)}`);
        const n = ns();
        const l = getLink(n, x.dev, op);
        if (l.kind !== "vxlan")
          throw new KernelError(op, "EOPNOTSUPP", { extack: "the fake models FDB entries of vxlan devices only" });
        const e: FakeFdb = { ifindex: l.index, mac: x.mac.toLowerCase(), dst: formatIPExact(dst) };
        const i = n.fdb.findIndex((y) => y.ifindex === l.index && y.mac === e.mac);
        if (i >= 0) n.fdb.splice(i, 1, e);
        else n.fdb.push(e);
      },
      async fdbDel(x) {
        const op = record(
          path,
          `bridge fdb del ${x.mac} dev ${x.dev}${x.dst !== undefined ? ` dst ${x.dst}` : ""} self`,
        );
        checkMac6(x.mac, op);
        const dst = x.dst !== undefined ? tryParseIPExact(x.dst) : undefined;
        if (x.dst !== undefined && !dst) throw new RangeError(`${op}: invalid dst ${JSON.stringify(x.dst)}`);
        const n = ns();
        const l = getLink(n, x.dev, op);
        const mac = x.mac.toLowerCase();
        const i = n.fdb.findIndex(
          (y) => y.ifindex === l.index && y.mac === mac && (dst === undefined || y.dst === formatIPExact(dst)),
        );
        if (i < 0) throw new KernelError(op, "ENOENT");
        n.fdb.splice(i, 1);
      },

      async batch(changes) {
        record(path, `ip -force -batch - (${changes.length} changes)`);
        const out: Array<Error | undefined> = [];
        for (const c of changes) {
          try {
            await applyOne(c);
            out.push(undefined);
          } catch (e) {
            if (!(e instanceof KernelError || e instanceof RangeError)) throw e;
            out.push(e);
          }
        }
        return out;
      },
      close() {},
    };

    function applyOne(c: NetBatchOp): Promise<void> {
      switch (c.op) {
        case "routeAdd":
          return ops.routeAdd(c.route);
        case "routeReplace":
          return ops.routeReplace(c.route);
        case "routeDel":
          return ops.routeDel(c.route);
        case "neighReplace":
          return ops.neighReplace(c.neigh);
        case "neighDel":
          return ops.neighDel(c.neigh);
        case "fdbReplace":
          return ops.fdbReplace(c.fdb);
        case "fdbDel":
          return ops.fdbDel(c.fdb);
        default:
          throw new RangeError(`batch: unknown operation ${JSON.stringify((c as { op?: unknown }).op)}`);
      }
    }

    function addAddr(name: string, cidr: string, o: AddrAddOptions, replace: boolean) {
      const op = record(
        path,
        `ip addr ${replace ? "replace" : "add"} ${cidr} dev ${name}${o.noDad ? " nodad" : ""}${o.scope !== undefined ? ` scope ${o.scope}` : ""}`,
      );
      const n = ns();
      const l = getLink(n, name, op);
      const p = inetPrefix(cidr);
      if (!p) throw new RangeError(`${op}: invalid address ${JSON.stringify(cidr)}`);
      const ip = formatIPExact(p.ip);
      const family = p.ip.family;
      const existing = n.addrs.findIndex(
        (a) => a.ifindex === l.index && a.address === ip && (family === 6 || a.prefixLen === p.prefix),
      );
      if (existing >= 0 && !replace) throw new KernelError(op, "EEXIST");
      const brd =
        family === 4 && o.broadcast !== false && p.prefix < 31
          ? typeof o.broadcast === "string"
            ? o.broadcast
            : formatIPExact(cidrBroadcast(p))
          : undefined;
      const a: FakeAddr = {
        ifindex: l.index,
        family,
        address: ip,
        prefixLen: p.prefix,
        scope: o.scope !== undefined ? scopeNumber(o.scope) : 0,
        noDad: o.noDad ?? false,
        ...(brd ? { broadcast: brd } : {}),
        ...(o.peer ? { peer: o.peer } : {}),
        ...(o.label ? { label: o.label } : {}),
      };
      if (existing >= 0) n.addrs.splice(existing, 1, a);
      else n.addrs.push(a);
      if (l.up && !o.noPrefixRoute) addPrefixRoute(n, a);
    }

    function modifyRoute(r: RouteSpec, mode: "add" | "replace" | "del") {
      const desc = [
        r.dst,
        r.gw ? `via ${r.gw}` : "",
        r.dev ? `dev ${r.dev}` : "",
        r.scope !== undefined ? `scope ${r.scope}` : "",
        r.table !== undefined ? `table ${r.table}` : "",
        r.metric !== undefined ? `metric ${r.metric}` : "",
        r.protocol !== undefined ? `proto ${r.protocol}` : "",
        r.onlink ? "onlink" : "",
      ]
        .filter(Boolean)
        .join(" ");
      const op = record(path, `ip route ${mode} ${r.type && r.type !== "unicast" ? `${r.type} ` : ""}${desc}`);
      const n = ns();
      const gwIP = r.gw !== undefined ? tryParseIPExact(r.gw) : undefined;
      const gwFam = gwIP?.family;
      if (r.gw !== undefined && !gwFam) throw new RangeError(`${op}: invalid gateway ${JSON.stringify(r.gw)}`);
      const d = normDst(r.dst, r.family ?? gwFam);
      if (!d) throw new RangeError(`${op}: invalid destination ${JSON.stringify(r.dst)}`);
      const dev = r.dev !== undefined ? getLink(n, r.dev, op) : undefined;
      const table = r.table ?? 254;
      const gw = gwIP ? formatIPExact(gwIP) : undefined;
      if (mode === "del") {
        const i = n.routes.findIndex(
          (x) =>
            x.table === table &&
            x.dst === d.cidr &&
            (gw === undefined || x.gw === gw) &&
            (dev === undefined || x.ifindex === dev.index) &&
            (r.metric === undefined || x.metric === r.metric) &&
            (r.protocol === undefined || x.protocol === r.protocol) &&
            (r.scope === undefined || x.scope === scopeNumber(r.scope)),
        );
        if (i < 0) throw new KernelError(op, "ESRCH");
        n.routes.splice(i, 1);
        return;
      }
      if (dev && !dev.up) throw new KernelError(op, "ENETDOWN", { extack: "Nexthop device is not up" });
      const type = typeof r.type === "number" ? String(r.type) : (r.type ?? "unicast");
      const scope: number =
        r.scope !== undefined
          ? scopeNumber(r.scope)
          : type === "local"
            ? 254
            : type === "unicast" && !gw && dev
              ? 253
              : 0;
      // The kernel resolves the gateway through an on-link route (and takes its device when none is given).
      const via = gw
        ? n.routes.find(
            (x) =>
              x.table === 254 &&
              x.family === d.family &&
              !x.gw &&
              x.ifindex !== undefined &&
              (d.family === 6 || x.scope >= 253) &&
              contains(x.dst, gw) &&
              (dev === undefined || x.ifindex === dev.index),
          )
        : undefined;
      if (gw && d.family === 4 && !r.onlink && !via) {
        throw new KernelError(op, "ENETUNREACH", { extack: "Nexthop has invalid gateway" });
      }
      const ifindex = dev?.index ?? via?.ifindex;
      const metric = r.metric ?? (d.family === 6 ? 1024 : undefined);
      const route: FakeRoute = {
        family: d.family,
        dst: d.cidr,
        ...(gw ? { gw } : {}),
        ...(ifindex !== undefined ? { ifindex } : {}),
        scope,
        table,
        protocol: r.protocol ?? 3,
        ...(r.src ? { src: r.src } : {}),
        ...(metric !== undefined ? { metric } : {}),
        ...(r.mtu !== undefined ? { mtu: r.mtu } : {}),
        type,
        onlink: r.onlink ?? false,
      };
      const i = n.routes.findIndex((x) => x.table === table && x.dst === d.cidr && (x.metric ?? 0) === (metric ?? 0));
      if (i >= 0) {
        if (mode === "add") throw new KernelError(op, "EEXIST");
        n.routes.splice(i, 1, route);
      } else {
        n.routes.push(route);
      }
    }

    return ops;
  }

  const handles = new Map<string | null, NetOps>();

  const fake: FakeKernel = {
    calls,
    get locks() {
      return new Map([...locks].map(([k, v]) => [k, v.count]));
    },
    netns(p) {
      const path = selfToNull(p);
      let h = handles.get(path);
      if (!h) {
        h = netOps(path);
        handles.set(path, h);
      }
      return h;
    },
    sysctl: {
      async read(path, key) {
        const k = sysctlKey(key);
        const op = record(path, `sysctl -n ${k}`);
        const n = nsOf(path, op);
        const v = n.sysctls.get(k);
        if (v !== undefined) return v;
        const m = PER_LINK_SYSCTL.exec(k);
        if (m && (m[3] === "all" || m[3] === "default" || n.links.has(m[3]!))) return "0";
        throw new KernelError(`sysctl read ${k}`, "ENOENT");
      },
      async write(path, key, value) {
        const k = sysctlKey(key);
        const op = record(path, `sysctl -w ${k}=${value}`);
        const n = nsOf(path, op);
        const m = PER_LINK_SYSCTL.exec(k);
        if (!n.sysctls.has(k) && !(m && (m[3] === "all" || m[3] === "default" || n.links.has(m[3]!)))) {
          throw new KernelError(`sysctl write ${k}`, "ENOENT");
        }
        n.sysctls.set(k, value.trim());
      },
    },
    async lock(path, o: LockOptions = {}): Promise<FileLock> {
      record(null, `flock ${o.shared ? "-s " : ""}${o.nonBlocking ? "-n " : ""}${path}`);
      const started = Date.now();
      for (;;) {
        const cur = locks.get(path);
        if (!cur || (o.shared && cur.shared)) {
          locks.set(path, { shared: o.shared ?? false, count: (cur?.count ?? 0) + 1 });
          break;
        }
        if (o.nonBlocking) throw new KernelError(`lock ${JSON.stringify(path)}: held elsewhere`, "EAGAIN");
        if (o.timeoutMs !== undefined && Date.now() - started >= o.timeoutMs) {
          throw new KernelError(`lock ${JSON.stringify(path)}: still held after ${o.timeoutMs} ms`, "ETIMEDOUT");
        }
        await new Promise<void>((resolve) => {
          const q = lockWaiters.get(path) ?? [];
          q.push(resolve);
          lockWaiters.set(path, q);
          if (o.timeoutMs !== undefined) setTimeout(resolve, Math.max(0, o.timeoutMs - (Date.now() - started)));
        });
      }
      let held = true;
      return {
        path,
        async release() {
          if (!held) return;
          held = false;
          const cur = locks.get(path)!;
          if (--cur.count === 0) locks.delete(path);
          const q = lockWaiters.get(path) ?? [];
          lockWaiters.delete(path);
          for (const w of q) w();
        },
      };
    },
    netnsExists(path) {
      return namespaces.has(selfToNull(path));
    },
    async netnsAdd(name) {
      const p = netnsPath(name);
      record(null, `ip netns add ${name}`);
      if (namespaces.has(p)) throw new KernelError(`ip netns add ${name}`, "EEXIST");
      newNetns(p);
      return p;
    },
    async netnsDel(name) {
      record(null, `ip netns del ${name}`);
      fake.removeNetns(netnsPath(name));
    },
    close() {},
    addNetns(path) {
      return namespaces.get(path) ?? newNetns(path);
    },
    removeNetns(path) {
      const n = namespaces.get(path);
      if (!n) return;
      // Like the kernel: veths die with their netns (and so do their peers); other links go home.
      for (const l of [...n.links.values()]) if (l.kind === "veth") removeLink(n, l);
      namespaces.delete(path);
      handles.delete(path);
    },
    state(path) {
      return nsOf(path, "fake state");
    },
    dump(path) {
      return dumpNetns(nsOf(path, "fake dump"));
    },
    failOn(match, errno, times = 1) {
      failures.push({ match, errno, times });
    },
  };
  return fake;
}

/**
 * Deterministic text of a fake netns, one object per line, sorted:
 *   link eth0 veth up mtu 1500 mac 0a:fa:ce:00:00:01 master br0 hairpin
 *   addr eth0 10.200.0.2/24
 *   route 0.0.0.0/0 via 10.200.0.1 dev eth0
 *   neigh 10.244.2.0 lladdr 0e:… dev podnet.vxlan permanent
 *   fdb 0e:… dev podnet.vxlan dst 192.168.2.10 self permanent
 *   sysctl net/ipv4/ip_forward=1   (only values that differ from the defaults)
 */
export function dumpNetns(ns: FakeNetns): string {
  const name = (i: number | undefined) => [...ns.links.values()].find((l) => l.index === i)?.name ?? `if${i}`;
  const lines: string[] = [];
  for (const l of [...ns.links.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const parts = [`link ${l.name} ${l.kind} ${l.up ? "up" : "down"} mtu ${l.mtu}`];
    if (l.kind !== "loopback") parts.push(`mac ${l.mac}`);
    if (l.masterIndex !== undefined) parts.push(`master ${name(l.masterIndex)}`);
    if (l.hairpin) parts.push("hairpin");
    if (l.promisc) parts.push("promisc");
    if (l.vlanFiltering) parts.push("vlan_filtering");
    if (l.peer) parts.push(`peer ${l.peer.ns.path ?? "host"}/${l.peer.link.name}`);
    for (const [vid, v] of [...l.vlans].sort((a, b) => a[0] - b[0]))
      parts.push(`vlan ${vid}${v.pvid ? " pvid" : ""}${v.untagged ? " untagged" : ""}`);
    if (l.vxlan) {
      const x = l.vxlan;
      parts.push(
        `vxlan id ${x.vni}${x.local ? ` local ${x.local}` : ""}${x.underlayIndex !== undefined ? ` dev ${name(x.underlayIndex)}` : ""} dstport ${x.port}${x.learning ? "" : " nolearning"}`,
      );
    }
    lines.push(parts.join(" "));
  }
  const neighs = ns.neighs.map((x) => `neigh ${x.ip} lladdr ${x.mac} dev ${name(x.ifindex)} permanent`).sort();
  const fdb = ns.fdb.map((x) => `fdb ${x.mac} dev ${name(x.ifindex)} dst ${x.dst} self permanent`).sort();
  const addrs = ns.addrs
    .map((a) => `addr ${name(a.ifindex)} ${a.address}/${a.prefixLen}${a.noDad ? " nodad" : ""}`)
    .sort();
  const routes = ns.routes
    .map((r) => {
      const s: string[] = [`route ${r.type !== "unicast" ? `${r.type} ` : ""}${r.dst}`];
      if (r.gw) s.push(`via ${r.gw}`);
      if (r.ifindex !== undefined) s.push(`dev ${name(r.ifindex)}`);
      if (r.table !== 254) s.push(`table ${r.table}`);
      if (r.scope !== 0) s.push(`scope ${scopeName(r.scope)}`);
      if (r.protocol === 2) s.push("proto kernel");
      else if (r.protocol !== 0 && r.protocol !== 3) s.push(`proto ${r.protocol}`);
      if (r.metric !== undefined && !(r.family === 6 && (r.metric === 1024 || r.metric === 256)))
        s.push(`metric ${r.metric}`);
      return s.join(" ");
    })
    .sort();
  const sysctls = [...ns.sysctls]
    .filter(([k, v]) => DEFAULT_SYSCTLS[k] !== v)
    .map(([k, v]) => `sysctl ${k}=${v}`)
    .sort();
  return `${[...lines, ...addrs, ...routes, ...neighs, ...fdb, ...sysctls].join("\n")}\n`;
}
