// Cluster networking: the store, allocation, the node registry, routing as desired state, the
// agent that ties them together, and their kernel side over src/kernel's NetOps (the route port,
// the VXLAN device, node discovery). See docs/cluster.md.
export * from "./store.js";
export { MemoryStore, type MemoryStoreOptions } from "./memory-store.js";
export { EtcdStore, type EtcdStoreOptions, type EtcdTls, loadEtcdTls, parseEtcdEndpoints } from "./etcd-store.js";
export * from "./blocks.js";
export * from "./keys.js";
export * from "./node-record.js";
export * from "./allocator.js";
export * from "./registry.js";
export * from "./routes.js";
export * from "./local-state.js";
export * from "./agent.js";
export { NetlinkRoutePort, type NetlinkRoutePortOptions } from "./netlink-route-port.js";
export * from "./vxlan-device.js";
export * from "./node-discovery.js";
export * from "./options.js";
export * from "./commands.js";
export { type Clock, type ClusterLogger, systemClock, silentLogger } from "./deps.js";
export { Backoff } from "./backoff.js";
