// `podnet resident [--socket PATH]` — serves podnet's plugins in-process to the resident-mode
// launchers (build/resident/<plugin>, or `podnet install --resident`): each CNI call then costs
// a ~1 ms launcher exec instead of a Node start-up. Without this daemon the launchers fall back
// to the Node plugins, so stopping it never breaks pod networking.
import { rmSync } from "node:fs";
import { isOwnNetns } from "../kernel/netns.js";
import { parseArgs } from "node:util";
import { defaultRegistry } from "../resident/registry.js";
import { serveResident, type ServeStats } from "../resident/server.js";

export const DEFAULT_CNI_SOCKET = "/run/podnet/cni.sock";

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { socket: { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    process.stdout.write(`usage: podnet resident [--socket PATH]   (default $PODNET_CNI_SOCKET or ${DEFAULT_CNI_SOCKET})\n`);
    return 0;
  }
  const socket = values.socket ?? process.env["PODNET_CNI_SOCKET"] ?? DEFAULT_CNI_SOCKET;
  const stats: ServeStats = { calls: 0, errors: 0 };
  const log = (m: string) => process.stderr.write(m.endsWith("\n") ? m : `${m}\n`);
  const server = await serveResident(socket, defaultRegistry(log), { isOwnNetns, stats, onError: (e) => log(`podnet resident: ${e.message}`) });
  log(`podnet resident: serving loopback, bridge, host-local, portmap, bandwidth on ${socket}`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      server.close();
      rmSync(socket, { force: true });
      log(`podnet resident: stopped after ${stats.calls} calls (${stats.errors} errors)`);
      resolve();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  return 0;
}
