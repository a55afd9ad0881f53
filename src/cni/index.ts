export * from "./errors.js";
// podnet's own errors: the base class, its catalogue of stable codes (src/util/errors.ts)
export { ERROR_CODES, PodnetError, isPodnetError, type PodnetErrorCode } from "../util/errors.js";
export * from "./version.js";
export * from "./keys.js";
export * from "./args.js";
export * from "./validate.js";
export * from "./result.js";
export * from "./netconf.js";
export * from "./schema.js";
export * from "./json.js";
