export * from "./errors.js";
export * from "./version.js";
export * from "./keys.js";
export * from "./args.js";
export * from "./validate.js";
export * from "./result.js";
export * from "./netconf.js";
export * from "./schema.js";
