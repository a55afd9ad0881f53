export * from "./types.js";
export * from "./dispatch.js";
export * from "./prev-result.js";
export { nodeIo, runPlugin } from "./main.js";
