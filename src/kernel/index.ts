// The kernel layer: the only code that touches the kernel. Re-exports only.
export type {
  Addr, AddrAddOptions, AddrFamily, BridgeAddOptions, BridgeVlanOptions, FileLock, Kernel, Link, LinkAddOptions,
  LinkKind, LockOptions, NetOps, OperState, Route, RouteFilter, RouteSpec, RouteType, Scope, Sysctl, VethAddOptions,
} from "./types.js";
export { KernelError, isExist, isKernelError, isNotFound, errnoName } from "./errors.js";
export { createKernel, type KernelDeps } from "./kernel.js";
export { createFakeKernel, dumpNetns, type FakeKernel, type FakeNetns } from "./fake.js";
export { createLocker } from "./lock.js";
export { nodeExec, ExecError, type Exec, type ExecOptions } from "./exec.js";
export { loadAddon, type Addon } from "./addon.js";
export { netnsPath, isNetnsFile } from "./netns.js";
export { RTPROT, RT_TABLE } from "./rtnl-codec.js";
