import { runPlugin } from "../../sdk/main.js";
import { SAMPLE_ABOUT, samplePlugin } from "./sample.js";
runPlugin(samplePlugin, SAMPLE_ABOUT);
