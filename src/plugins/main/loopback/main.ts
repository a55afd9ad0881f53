import { createKernel } from "../../../kernel/kernel.js";
import { runPlugin } from "../../../sdk/main.js";
import { about, createLoopback } from "./loopback.js";
runPlugin(createLoopback({ kernel: createKernel() }), about);
