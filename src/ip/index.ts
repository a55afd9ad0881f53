// IPv4/IPv6 address and CIDR math on bigint; pure, no I/O.
export * from "./ip.js";
export * from "./cidr.js";
export * from "./range.js";
export * from "./cidr-list.js";
