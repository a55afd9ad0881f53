// `podnet resident [--socket PATH] [--socket-group GROUP] [--workers N]` — serves podnet's plugins
// in-process to the resident-mode launchers (build/resident/<plugin>, installed by `podnet
// install`): each CNI call then costs a ~1 ms launcher exec instead of a Node start-up. The calls
// run on N worker threads (plugin-workers.ts), so pods set up in parallel do not queue behind each
// other's kernel waits. Without this daemon the launchers fall back to the Node plugins, so stopping
// it never breaks pod networking.
// Who may connect, and what the daemon checks: docs/security.md.
import { DEFAULT_CNI_SOCKET } from "../deploy/units.js";
import { resolveGroup, type SocketGroup } from "../kernel/unix-listener.js";
import { DEFAULT_WORKERS, workerPluginHost } from "../netmgr/invoke/plugin-workers.js";
import { RESIDENT_PLUGINS } from "../resident/registry.js";
import { newServeStats, serveResident } from "../resident/server.js";
import { exitCodes, parseCommandArgs, usageError } from "./args.js";

const MAX_WORKERS = 64;

const USAGE =
  `usage: podnet resident [--socket PATH] [--socket-group GROUP] [--workers N]\n` +
  `  --socket PATH         the launchers' socket (default $PODNET_CNI_SOCKET or ${DEFAULT_CNI_SOCKET})\n` +
  `  --socket-group GROUP  members of GROUP (a name or GID) may use it too (root only by default)\n` +
  `  --workers N           worker threads running the plugin calls, 1 to ${MAX_WORKERS} (default ${DEFAULT_WORKERS})\n` +
  `  Runs until SIGTERM or SIGINT.\n` +
  exitCodes({ failure: "the socket could not be served (the reason is on stderr)" });

export async function run(argv: string[]): Promise<number> {
  const p = parseCommandArgs("resident", USAGE, argv, { socket: { type: "string" }, "socket-group": { type: "string" }, workers: { type: "string" } });
  if (typeof p === "number") return p;
  const values = p.values;
  const socket = values.socket ?? process.env["PODNET_CNI_SOCKET"] ?? DEFAULT_CNI_SOCKET;
  let group: SocketGroup | undefined;
  try {
    if (values["socket-group"] !== undefined) group = resolveGroup(values["socket-group"]);
  } catch (e) {
    return usageError("resident", `--socket-group: ${(e as Error).message}`, USAGE);
  }
  let workers = DEFAULT_WORKERS;
  if (values.workers !== undefined) {
    workers = Number(values.workers);
    if (!/^[0-9]+$/.test(values.workers) || workers < 1 || workers > MAX_WORKERS) {
      return usageError("resident", `--workers: must be a whole number from 1 to ${MAX_WORKERS}, got ${JSON.stringify(values.workers)}`, USAGE);
    }
  }
  const stats = newServeStats();
  const log = (m: string) => process.stderr.write(m.endsWith("\n") ? m : `${m}\n`);
  const host = workerPluginHost({ size: workers, log });
  let listener;
  try {
    // the first calls should not wait for the workers to load the plugins (~100 ms)
    await host.warm?.();
    listener = await serveResident(socket, host, {
      stats,
      ...(group ? { group } : {}),
      onError: (e) => log(`podnet resident: ${e.message}`),
    });
  } catch (e) {
    log(`podnet resident: ${(e as Error).message}`);
    await host.close();
    return 1;
  }
  const served = listener;
  log(`podnet resident: serving ${RESIDENT_PLUGINS.join(", ")} on ${served.path}${group ? ` (root and group ${group.name})` : " (root only)"} with ${workers} worker threads`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      served.close().then(() => host.close()).then(() => {
        log(
          `podnet resident: stopped after ${stats.calls} calls (${stats.errors} errors; ${stats.skipped} skipped, their launcher gone; ` +
            `${stats.malformed} malformed; ${stats.rejected} connections refused)`,
        );
        resolve();
      });
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  return 0;
}
