// Tests only: a registry for the plugin worker pool (plugin-workers.test.ts) — podnet's sample
// plugin, one that never answers, one that ends its worker thread, and one that logs.
import { exit } from "node:process";
import { SAMPLE_ABOUT, samplePlugin } from "../../plugins/sample/sample.js";
import { stateless, type Registry } from "../../resident/server.js";
import type { PluginFuncs } from "../../sdk/types.js";

const about = (name: string) => ({ name, supportedVersions: ["0.4.0", "1.0.0", "1.1.0"] });
const never: PluginFuncs = { add: () => new Promise(() => {}), del: () => new Promise(() => {}) };

export function testRegistry(log: (m: string) => void): Registry {
  const crash: PluginFuncs = {
    add: async () => exit(3), // in a worker thread: ends the thread, not the process
    del: async () => {},
  };
  const chatty: PluginFuncs = {
    add: async (args) => {
      log(`chatty ADD ${args.containerID}`);
      return { cniVersion: args.cniVersion, ips: [{ address: "10.200.0.9/24" }] };
    },
    del: async () => {},
  };
  return new Map([
    ["sample", stateless(samplePlugin, SAMPLE_ABOUT)],
    ["hang", stateless(never, about("hang"))],
    ["crash", stateless(crash, about("crash"))],
    ["chatty", stateless(chatty, about("chatty"))],
  ]);
}
