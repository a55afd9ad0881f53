// Tests only: a registry for the plugin worker pool (plugin-workers.test.ts) — podnet's sample
// plugin, one that never answers, one that ends its worker thread, one that logs, and one that
// blocks its thread synchronously (as a netlink call waiting in the kernel does) until released;
// watchingRegistry holds an inotify instance for its thread's life, as the daemons' registry does.
import { tmpdir } from "node:os";
import { exit } from "node:process";
import { createDirWatcher } from "../../kernel/dir-watch.js";
import { SAMPLE_ABOUT, samplePlugin } from "../../plugins/sample/sample.js";
import { stateless, type ClosableRegistry, type Registry } from "../../resident/host.js";
import type { PluginFuncs } from "../../sdk/types.js";

const about = (name: string) => ({ name, supportedVersions: ["0.4.0", "1.0.0", "1.1.0"] });
const never: PluginFuncs = { add: () => new Promise(() => {}), del: () => new Promise(() => {}) };

/**
 * The gate of the "hold" plugin, shared with the test through a SharedArrayBuffer (the registry's
 * argument): slot 0 counts ADDs that entered, slot 1 is set to release them all, slot 2 counts DELs.
 */
export function holdGate(): {
  readonly buffer: SharedArrayBuffer;
  entered(): number;
  deleted(): number;
  release(): void;
} {
  const buffer = new SharedArrayBuffer(12);
  const a = new Int32Array(buffer);
  return {
    buffer,
    entered: () => Atomics.load(a, 0),
    deleted: () => Atomics.load(a, 2),
    release() {
      Atomics.store(a, 1, 1);
      Atomics.notify(a, 1);
    },
  };
}

export function testRegistry(log: (m: string) => void, gate?: SharedArrayBuffer): Registry {
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
  const hold: PluginFuncs = {
    add: async (args) => {
      if (!gate) throw new Error("hold needs the gate (registryArg)");
      const a = new Int32Array(gate);
      Atomics.add(a, 0, 1);
      Atomics.wait(a, 1, 0); // the whole thread waits, as in a synchronous kernel call
      return { cniVersion: args.cniVersion, ips: [{ address: "10.200.0.8/24" }] };
    },
    del: async () => {
      if (gate) Atomics.add(new Int32Array(gate), 2, 1);
    },
  };
  return new Map([
    ["sample", stateless(samplePlugin, SAMPLE_ABOUT)],
    ["hold", stateless(hold, about("hold"))],
    ["hang", stateless(never, about("hang"))],
    ["crash", stateless(crash, about("crash"))],
    ["chatty", stateless(chatty, about("chatty"))],
  ]);
}

/** testRegistry with a directory watcher open from the start (its thread's inotify instance), closed by close(). */
export function watchingRegistry(log: (m: string) => void, gate?: SharedArrayBuffer): ClosableRegistry {
  const watcher = createDirWatcher();
  watcher.changes(tmpdir());
  return Object.assign(new Map(testRegistry(log, gate)), { close: () => watcher.close() });
}
