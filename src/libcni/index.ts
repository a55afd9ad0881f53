export * from "./api.js";
export * from "./cache.js";
export * from "./confdir.js";
export * from "./find.js";
export * from "./invoke.js";
