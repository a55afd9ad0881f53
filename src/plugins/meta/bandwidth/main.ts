import { runPlugin } from "../../../sdk/main.js";
import { BANDWIDTH_ABOUT, createBandwidth } from "./bandwidth.js";
import { nodeBandwidthDeps } from "./node-deps.js";
runPlugin(createBandwidth(nodeBandwidthDeps({ log: (m) => process.stderr.write(`${m}\n`) })), BANDWIDTH_ABOUT);
