// The kernel layer's interfaces. Plugins, the SDK and the node manager code against these; the
// real implementation (netlink over the native addon) and the in-memory fake (fake.ts) both
// implement them. Every operation names the iproute2 command it is equivalent to.
//
// Conventions:
// - A `NetOps` is bound to one network namespace, given as a path (`/run/netns/X`,
//   `/proc/PID/ns/net`); `null` means the namespace the process runs in.
// - Reads return `undefined` for "absent"; writes throw `KernelError` (errors.ts), which carries the
//   kernel's errno name (`EEXIST`, `ENODEV`, …). Branch on `isExist(e)` / `isNotFound(e)`, never on text.
// - Addresses are strings: "10.200.0.2", "fd00:200::2"; prefixes are CIDRs: "10.200.0.0/24".
// - MACs are lower-case colon hex: "0a:58:0a:c8:00:02".

/** `ip link` operstate (IFLA_OPERSTATE, RFC 2863). */
export type OperState = "unknown" | "notpresent" | "down" | "lowerlayerdown" | "testing" | "dormant" | "up";

/**
 * What `ip -d link show` prints as the link type: IFLA_INFO_KIND when the driver reports one
 * ("veth", "bridge", "dummy", "ifb", "vlan", …), else "loopback" for lo and "device" for hardware.
 */
export type LinkKind = "veth" | "bridge" | "dummy" | "ifb" | "loopback" | "device" | (string & {});

export interface Link {
  readonly name: string;
  readonly index: number;
  readonly kind: LinkKind;
  readonly mtu: number;
  /** Lower-case colon hex; "" when the link has no link-layer address. */
  readonly mac: string;
  /** IFF_UP: administratively up (`ip link set up`). */
  readonly up: boolean;
  readonly operstate: OperState;
  /** Raw IFF_* flags (ifi_flags). */
  readonly flags: number;
  readonly promisc: boolean;
  readonly txQLen: number;
  /** IFLA_MASTER: index of the bridge (or bond) this link is a port of. */
  readonly masterIndex?: number;
  /** IFLA_LINK: for a veth, the peer's index (in the peer's netns). */
  readonly linkIndex?: number;
  /** IFLA_LINK_NETNSID: the peer's netns id as seen from this netns, when the peer is elsewhere. */
  readonly linkNetnsId?: number;
  /** IFLA_INFO_SLAVE_KIND: "bridge" when this link is a bridge port. */
  readonly slaveKind?: string;
  /** Bridge ports only: IFLA_BRPORT_MODE (`bridge link set dev X hairpin on`). */
  readonly hairpin?: boolean;
  /** Bridge ports only: IFLA_BRPORT_LEARNING. */
  readonly learning?: boolean;
  /** Bridges only: IFLA_BR_VLAN_FILTERING. */
  readonly vlanFiltering?: boolean;
  /** VXLAN links only: their IFLA_INFO_DATA. */
  readonly vxlan?: VxlanInfo;
  readonly alias?: string;
}

/** A vxlan link's attributes as `ip -d link show` prints them. */
export interface VxlanInfo {
  /** `id VNI` */
  readonly vni: number;
  /** `local ADDR`: the source address of encapsulated packets; absent when unset. */
  readonly local?: string;
  /** `dev NAME`: the index of the underlay link (IFLA_VXLAN_LINK); absent when unset. */
  readonly underlayIndex?: number;
  /** `dstport PORT`: the UDP port. */
  readonly port: number;
  /** `learning` / `nolearning`: whether the device learns remote MACs from received packets. */
  readonly learning: boolean;
}

/** `ip link add NAME type vxlan id VNI [local ADDR] [dev UNDERLAY] dstport PORT [no]learning` */
export interface VxlanAddOptions extends LinkAddOptions {
  /** `id VNI`, 0..16777215. */
  readonly vni: number;
  /** `local ADDR` */
  readonly local?: string;
  /** `dev NAME`: the underlay link. */
  readonly dev?: string;
  /** `dstport PORT`; default 4789 (IANA's; the kernel's own default is 8472). */
  readonly port?: number;
  /** Default true, as the kernel and iproute2. */
  readonly learning?: boolean;
}

/** A neighbour (ARP / NDP) entry as `ip neigh show` reports it. */
export interface Neigh {
  readonly dev: string;
  readonly ifindex: number;
  readonly family: AddrFamily;
  readonly ip: string;
  /** `lladdr`; absent for entries without one (INCOMPLETE, FAILED). */
  readonly mac?: string;
  /** Raw NUD_* state bits. */
  readonly state: number;
  /** NUD_PERMANENT: added by hand (`nud permanent`), never expires. */
  readonly permanent: boolean;
  /** Raw NTF_* flags. */
  readonly flags: number;
}

/** `ip neigh replace IP lladdr MAC dev DEV nud permanent` */
export interface NeighSpec {
  readonly dev: string;
  readonly ip: string;
  readonly mac: string;
}

export interface NeighFilter {
  readonly dev?: string;
  readonly family?: AddrFamily;
}

/** A forwarding database entry as `bridge fdb show` reports it. */
export interface FdbEntry {
  readonly dev: string;
  readonly ifindex: number;
  readonly mac: string;
  /** `dst ADDR`: the remote VTEP of a vxlan entry. */
  readonly dst?: string;
  /** `vni N` when it differs from the device's. */
  readonly vni?: number;
  /** `port N` when it differs from the device's. */
  readonly port?: number;
  readonly vlan?: number;
  /** `master BR`: the bridge of a bridge-port entry. */
  readonly masterIndex?: number;
  /** Raw NUD_* state bits. */
  readonly state: number;
  /** NUD_PERMANENT (`permanent`); else the entry was learned or is `static`/`dynamic`. */
  readonly permanent: boolean;
  /** NTF_SELF (`self`): the entry is the device's own (a vxlan device's), not its bridge's. */
  readonly self: boolean;
  /** Raw NTF_* flags. */
  readonly flags: number;
}

/** `bridge fdb replace MAC dev DEV dst ADDR self permanent` (a vxlan device's remote). */
export interface FdbSpec {
  readonly dev: string;
  readonly mac: string;
  readonly dst: string;
}

/** `bridge fdb del MAC dev DEV [dst ADDR] self` */
export interface FdbDelSpec {
  readonly dev: string;
  readonly mac: string;
  /** Only the remote with this address; default: the whole entry. */
  readonly dst?: string;
}

export interface FdbFilter {
  /** `brport DEV`: only this device's entries. */
  readonly dev?: string;
}

/** What `ip route get ADDRESS` answers. */
export interface RouteLookup {
  readonly dev: string;
  readonly ifindex: number;
  /** The source address the kernel would use (RTA_PREFSRC). */
  readonly src?: string;
  /** The next hop, when not on-link. */
  readonly gw?: string;
  readonly table: number;
}

/**
 * One write of a batch, named by the NetOps method it stands for. A batch is what
 * `ip -force -batch -` does with lines of `route replace …`, `neigh replace …`,
 * `fdb replace …` (the last through `bridge -force -batch`): each change on its own, in order.
 */
export type NetBatchOp =
  | { readonly op: "routeAdd" | "routeReplace" | "routeDel"; readonly route: RouteSpec }
  | { readonly op: "neighReplace"; readonly neigh: NeighSpec }
  | { readonly op: "neighDel"; readonly neigh: Pick<NeighSpec, "dev" | "ip"> }
  | { readonly op: "fdbReplace"; readonly fdb: FdbSpec }
  | { readonly op: "fdbDel"; readonly fdb: FdbDelSpec };

export type AddrFamily = 4 | 6;

/** Route / address scope by the kernel's names (RT_SCOPE_UNIVERSE…, as Go's netlink.SCOPE_*);
 * iproute2 prints "universe" as "global". Other values stay numeric. */
export type Scope = "universe" | "site" | "link" | "host" | "nowhere" | number;

export interface Addr {
  /** Name of the link the address is on ("" if the link vanished meanwhile). */
  readonly dev: string;
  readonly ifindex: number;
  readonly family: AddrFamily;
  /** The address without prefix (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6). */
  readonly address: string;
  readonly prefixLen: number;
  /** `address/prefixLen`, as given to `ip addr add`. */
  readonly cidr: string;
  /** IFA_ADDRESS when it differs from IFA_LOCAL (point-to-point peer). */
  readonly peer?: string;
  readonly broadcast?: string;
  readonly label?: string;
  readonly scope: Scope;
  /** Raw IFA_F_* flags (IFA_FLAGS when present). */
  readonly flags: number;
  readonly permanent: boolean;
  /** IPv6 DAD still in progress. */
  readonly tentative: boolean;
  readonly dadFailed: boolean;
  readonly noDad: boolean;
}

export interface AddrAddOptions {
  /** `nodad` (IPv6): skip duplicate address detection. */
  readonly noDad?: boolean;
  readonly scope?: Scope;
  /** `brd ADDR`. Default for IPv4 prefixes shorter than /31: the subnet's broadcast address
   * (what Go's netlink.AddrAdd does, so our links look like the reference plugins'); false: none. */
  readonly broadcast?: string | boolean;
  readonly label?: string;
  /** `peer ADDR` (point-to-point). */
  readonly peer?: string;
  /** `valid_lft` / `preferred_lft` in seconds; default forever. */
  readonly validLft?: number;
  readonly preferredLft?: number;
  /** `noprefixroute`: do not create the prefix route. */
  readonly noPrefixRoute?: boolean;
}

/** rtm_type names as iproute2 prints them. */
export type RouteType =
  | "unicast"
  | "local"
  | "broadcast"
  | "anycast"
  | "multicast"
  | "blackhole"
  | "unreachable"
  | "prohibit"
  | "throw"
  | "nat"
  | number;

/** A route to add, replace or delete. */
export interface RouteSpec {
  /** Destination CIDR; "0.0.0.0/0", "::/0", or "default" (IPv4 unless `family` or `gw` say IPv6). */
  readonly dst: string;
  /** `via GW` */
  readonly gw?: string;
  /** `dev NAME` */
  readonly dev?: string;
  /** `scope`; default as iproute2: "link" for a route without gateway on a device (unicast), "universe" otherwise;
   * "host" for local routes. */
  readonly scope?: Scope;
  /** `table N`; default 254 (main). */
  readonly table?: number;
  /** `proto N`; default 3 (boot), as `ip route add` and Go's netlink.RouteAdd; 0 on delete (any).
   * podnet tags the routes it owns with its own number. */
  readonly protocol?: number;
  /** `src ADDR` (preferred source). */
  readonly src?: string;
  /** `metric N` (RTA_PRIORITY). */
  readonly metric?: number;
  /** `mtu N` (RTAX_MTU). */
  readonly mtu?: number;
  /** `onlink`: the gateway is on-link even if no prefix says so. */
  readonly onlink?: boolean;
  /** Default "unicast". */
  readonly type?: RouteType;
  /** Only needed for an IPv6 "default" without a gateway. */
  readonly family?: AddrFamily;
}

/** A route as the kernel reports it (`ip -json route show`). */
export interface Route {
  readonly family: AddrFamily;
  /** Always a CIDR: "0.0.0.0/0" for the default route. */
  readonly dst: string;
  readonly gw?: string;
  /** Output link name ("" if it could not be resolved). */
  readonly dev?: string;
  readonly ifindex?: number;
  readonly scope: Scope;
  readonly table: number;
  readonly protocol: number;
  readonly src?: string;
  readonly metric?: number;
  readonly mtu?: number;
  readonly type: RouteType;
  /** rtm_flags (RTNH_F_ONLINK = 4, …). */
  readonly flags: number;
}

export interface RouteFilter {
  readonly family?: AddrFamily;
  /** Default 254 (main), like `ip route show`; 0 lists every table (`table all`). */
  readonly table?: number;
  readonly dev?: string;
  /** Exact destination CIDR ("default" allowed). */
  readonly dst?: string;
  readonly protocol?: number;
  readonly type?: RouteType;
}

export interface LinkAddOptions {
  readonly mtu?: number;
  readonly mac?: string;
  /** Bring the link up in the same request (IFF_UP). */
  readonly up?: boolean;
  readonly txQLen?: number;
}

export interface BridgeAddOptions extends LinkAddOptions {
  /** `vlan_filtering 1` */
  readonly vlanFiltering?: boolean;
}

export interface VethAddOptions extends LinkAddOptions {
  /** Put the peer straight into this netns (path), like `peer name P netns X`. For the process's own
   * netns (a plugin creating the veth inside the container, peer on the host) use "/proc/self/ns/net". */
  readonly peerNetns?: string;
  readonly peerMac?: string;
  /** Default: same as `mtu`. */
  readonly peerMtu?: number;
}

export interface BridgeVlanOptions {
  /** `pvid`: untagged ingress is classified into this VLAN. */
  readonly pvid?: boolean;
  /** `untagged`: egress leaves untagged. */
  readonly untagged?: boolean;
  /** `self`: apply to the bridge device itself (needed for the bridge's own VLANs). */
  readonly self?: boolean;
}

/** Network operations bound to one netns. */
export interface NetOps {
  /** The netns path this handle is bound to; null for the process's own netns. */
  readonly netns: string | null;

  /** `ip -d link show dev NAME`; undefined when there is no such link. */
  linkGet(name: string): Promise<Link | undefined>;
  /** `ip -d link show` filtered by index; undefined when absent. */
  linkGetByIndex(index: number): Promise<Link | undefined>;
  /** `ip -d link show` */
  linkList(): Promise<Link[]>;

  /** `ip link add NAME [mtu M] [address MAC] type bridge [vlan_filtering 1]` */
  linkAddBridge(name: string, opts?: BridgeAddOptions): Promise<void>;
  /** `ip link add NAME [mtu M] [address MAC] type veth peer name PEER [address PMAC] [netns NS]` */
  linkAddVeth(name: string, peerName: string, opts?: VethAddOptions): Promise<void>;
  /** `ip link add NAME type dummy` */
  linkAddDummy(name: string, opts?: LinkAddOptions): Promise<void>;
  /** `ip link add NAME type ifb` */
  linkAddIfb(name: string, opts?: LinkAddOptions): Promise<void>;

  /** `ip link set dev NAME up` */
  linkSetUp(name: string): Promise<void>;
  /** `ip link set dev NAME down` */
  linkSetDown(name: string): Promise<void>;
  /** `ip link set dev NAME mtu MTU` */
  linkSetMtu(name: string, mtu: number): Promise<void>;
  /** `ip link set dev NAME address MAC` */
  linkSetMac(name: string, mac: string): Promise<void>;
  /** `ip link set dev NAME master BR`, or `nomaster` when master is null. */
  linkSetMaster(name: string, master: string | null): Promise<void>;
  /** `ip link set dev NAME netns NS [name NEWNAME]` (NS is a path). */
  linkSetNetns(name: string, netnsPath: string, opts?: { newName?: string }): Promise<void>;
  /** `ip link set dev OLD name NEW` (the link must be down). */
  linkRename(oldName: string, newName: string): Promise<void>;
  /** `ip link set dev NAME promisc on|off` */
  linkSetPromisc(name: string, on: boolean): Promise<void>;
  /** `ip link set dev NAME txqueuelen N` */
  linkSetTxQLen(name: string, qlen: number): Promise<void>;
  /** `ip link set dev NAME alias TEXT` */
  linkSetAlias(name: string, alias: string): Promise<void>;
  /** `bridge link set dev NAME hairpin on|off` (NAME must be a bridge port). */
  linkSetHairpin(name: string, on: boolean): Promise<void>;
  /** `bridge link set dev NAME learning on|off` (NAME must be a bridge port). */
  linkSetLearning(name: string, on: boolean): Promise<void>;
  /** `ip link set dev BR type bridge vlan_filtering 0|1` */
  linkSetVlanFiltering(name: string, on: boolean): Promise<void>;
  /** `bridge vlan add dev NAME vid VID [pvid] [untagged] [self]` */
  bridgeVlanAdd(name: string, vid: number, opts?: BridgeVlanOptions): Promise<void>;
  /** `bridge vlan del dev NAME vid VID [self]` */
  bridgeVlanDel(name: string, vid: number, opts?: { self?: boolean }): Promise<void>;
  /** `ip link del dev NAME` */
  linkDel(name: string): Promise<void>;

  /** `ip addr add CIDR dev NAME [nodad] [scope S] [brd B]` */
  addrAdd(name: string, cidr: string, opts?: AddrAddOptions): Promise<void>;
  /** `ip addr replace CIDR dev NAME …` */
  addrReplace(name: string, cidr: string, opts?: AddrAddOptions): Promise<void>;
  /** `ip addr del CIDR dev NAME` */
  addrDel(name: string, cidr: string): Promise<void>;
  /** `ip addr show [dev NAME]` (`-4`/`-6` with family) */
  addrList(name?: string, family?: AddrFamily): Promise<Addr[]>;

  /** `ip route add …` */
  routeAdd(route: RouteSpec): Promise<void>;
  /** `ip route replace …` */
  routeReplace(route: RouteSpec): Promise<void>;
  /** `ip route del …` (matches on the fields given) */
  routeDel(route: RouteSpec): Promise<void>;
  /** `ip route show [table T] [dev D] [proto P] …` */
  routeList(filter?: RouteFilter): Promise<Route[]>;
  /** `ip route get ADDRESS`: the kernel's own lookup (policy rules, every table); undefined when unreachable. */
  routeGet(address: string): Promise<RouteLookup | undefined>;

  /** `ip link add NAME [mtu M] [address MAC] type vxlan id VNI [local A] [dev D] dstport P [no]learning` */
  linkAddVxlan(name: string, opts: VxlanAddOptions): Promise<void>;

  /** `ip neigh show nud all [dev DEV]` (`-4`/`-6` with family): the kernel's own NOARP entries included. */
  neighList(filter?: NeighFilter): Promise<Neigh[]>;
  /** `ip neigh replace IP lladdr MAC dev DEV nud permanent` */
  neighReplace(neigh: NeighSpec): Promise<void>;
  /** `ip neigh del IP dev DEV` */
  neighDel(neigh: Pick<NeighSpec, "dev" | "ip">): Promise<void>;

  /** `bridge fdb show [brport DEV]` */
  fdbList(filter?: FdbFilter): Promise<FdbEntry[]>;
  /** `bridge fdb replace MAC dev DEV dst ADDR self permanent` */
  fdbReplace(fdb: FdbSpec): Promise<void>;
  /** `bridge fdb del MAC dev DEV [dst ADDR] self` */
  fdbDel(fdb: FdbDelSpec): Promise<void>;

  /**
   * Several route / neighbour / FDB writes in as few netlink datagrams as fit the socket's buffer
   * (`ip -force -batch -`): each applied on its own, in order. The result has one slot per
   * change: undefined when it was applied, else its error (KernelError; RangeError for bad input,
   * which is never sent). A link named by several changes is looked up once.
   */
  batch(changes: readonly NetBatchOp[]): Promise<Array<Error | undefined>>;

  /** Closes this handle's netlink socket (it is reopened on the next call). An open socket pins its netns. */
  close(): void;
}

/** `sysctl` inside a netns. Keys use slashes ("net/ipv4/ip_forward"); a key without "/" is read
 * as dotted ("net.ipv4.ip_forward"). /proc/sys/net is per-netns, bound at open time. */
export interface Sysctl {
  /** `ip netns exec NS sysctl -n KEY` (value without trailing newline) */
  read(netns: string | null, key: string): Promise<string>;
  /** `ip netns exec NS sysctl -w KEY=VALUE` */
  write(netns: string | null, key: string, value: string): Promise<void>;
}

export interface LockOptions {
  /** LOCK_SH instead of LOCK_EX. */
  readonly shared?: boolean;
  /** Give up (KernelError EWOULDBLOCK → errno "EAGAIN") instead of waiting. */
  readonly nonBlocking?: boolean;
  /** Give up after this long (KernelError "ETIMEDOUT"); default wait forever, like Go's host-local. */
  readonly timeoutMs?: number;
}

/** A held flock(2). */
export interface FileLock {
  readonly path: string;
  /** LOCK_UN and close. Idempotent. */
  release(): Promise<void>;
}

export interface Kernel {
  /** Operations inside the netns at `path` (null: the process's own). Handles are cached per path. */
  netns(path: string | null): NetOps;
  readonly sysctl: Sysctl;
  /** `flock PATH` (creates the file if missing). Waits without blocking the event loop, so two
   * holders in one process (the node manager running plugins in-process) queue instead of deadlocking.
   * Compatible with Go's host-local lock on the same file. */
  lock(path: string, opts?: LockOptions): Promise<FileLock>;
  /** True when `path` is a namespace file (nsfs), as CNI_NETNS should be. Never throws. */
  netnsExists(path: string): boolean;
  /** `ip netns add NAME`; returns the path (/run/netns/NAME). */
  netnsAdd(name: string): Promise<string>;
  /** `ip netns del NAME`; no error when it is already gone. */
  netnsDel(name: string): Promise<void>;
  /** Closes every cached netlink socket. */
  close(): void;
}
