import { runPlugin } from "../../sdk/main.js";
import { about, samplePlugin } from "./sample.js";
runPlugin(samplePlugin, about);
