import { runPlugin } from "../../../sdk/main.js";
import { nodePortmapDeps } from "./node-deps.js";
import { PORTMAP_ABOUT, createPortmap } from "./portmap.js";
runPlugin(createPortmap(nodePortmapDeps({ log: (m) => process.stderr.write(`${m}\n`) })), PORTMAP_ABOUT);
