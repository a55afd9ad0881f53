// The kernel layer: netlink through the addon (links, addresses, routes, neighbours, FDB,
// nftables deletions, conntrack, tc), sysctl, flock, network namespaces, the processes podnet starts
// (exec.ts, the only place that starts one) and the ports for iptables, nftables and tc. The
// plugins and the node manager render their own rules (iptables, nft, ebtables command lines) and
// hand them to these ports or to an Exec. Re-exports only.
export type {
  Addr,
  AddrAddOptions,
  AddrFamily,
  BridgeAddOptions,
  BridgeVlanOptions,
  FdbDelSpec,
  FdbEntry,
  FdbFilter,
  FdbSpec,
  FileLock,
  Kernel,
  Link,
  LinkAddOptions,
  LinkKind,
  LockOptions,
  Neigh,
  NeighFilter,
  NeighSpec,
  NetBatchOp,
  NetOps,
  OperState,
  Route,
  RouteFilter,
  RouteLookup,
  RouteSpec,
  RouteType,
  Scope,
  Sysctl,
  VethAddOptions,
  VxlanAddOptions,
  VxlanInfo,
} from "./types.js";
export { KernelError, isExist, isKernelError, isNotFound, errnoName } from "./errors.js";
export { createKernel, type KernelDeps } from "./kernel.js";
export { createFakeKernel, dumpNetns, type FakeKernel, type FakeNetns } from "./fake.js";
export { createLocker } from "./lock.js";
export { nodeExec, ExecError, type Exec, type ExecOptions } from "./exec.js";
export { loadAddon, type Addon } from "./addon.js";
export { netnsPath, isNetnsFile } from "./netns.js";
export { RTPROT, RT_TABLE, VXLAN_DEFAULT_PORT } from "./rtnl-codec.js";
