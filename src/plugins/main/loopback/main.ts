import { createKernel } from "../../../kernel/kernel.js";
import { runPlugin } from "../../../sdk/main.js";
import { LOOPBACK_ABOUT, createLoopback } from "./loopback.js";
runPlugin(createLoopback({ kernel: createKernel() }), LOOPBACK_ABOUT);
