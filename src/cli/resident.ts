// `podnet resident [--socket PATH] [--socket-group GROUP]` — serves podnet's plugins in-process
// to the resident-mode launchers (build/resident/<plugin>, installed by `podnet install`): each
// CNI call then costs a ~1 ms launcher exec instead of a Node start-up. Without this daemon the
// launchers fall back to the Node plugins, so stopping it never breaks pod networking.
// Who may connect, and what the daemon checks: docs/security.md.
import { DEFAULT_CNI_SOCKET } from "../deploy/units.js";
import { isOwnNetns } from "../kernel/netns.js";
import { resolveGroup, type SocketGroup } from "../kernel/unix-listener.js";
import { defaultRegistry } from "../resident/registry.js";
import { newServeStats, serveResident } from "../resident/server.js";
import { exitCodes, parseCommandArgs, usageError } from "./args.js";

const USAGE =
  `usage: podnet resident [--socket PATH] [--socket-group GROUP]\n` +
  `  --socket PATH         the launchers' socket (default $PODNET_CNI_SOCKET or ${DEFAULT_CNI_SOCKET})\n` +
  `  --socket-group GROUP  members of GROUP (a name or GID) may use it too (root only by default)\n` +
  `  Runs until SIGTERM or SIGINT.\n` +
  exitCodes({ failure: "the socket could not be served (the reason is on stderr)" });

export async function run(argv: string[]): Promise<number> {
  const p = parseCommandArgs("resident", USAGE, argv, { socket: { type: "string" }, "socket-group": { type: "string" } });
  if (typeof p === "number") return p;
  const values = p.values;
  const socket = values.socket ?? process.env["PODNET_CNI_SOCKET"] ?? DEFAULT_CNI_SOCKET;
  let group: SocketGroup | undefined;
  try {
    if (values["socket-group"] !== undefined) group = resolveGroup(values["socket-group"]);
  } catch (e) {
    return usageError("resident", `--socket-group: ${(e as Error).message}`, USAGE);
  }
  const stats = newServeStats();
  const log = (m: string) => process.stderr.write(m.endsWith("\n") ? m : `${m}\n`);
  let listener;
  try {
    listener = await serveResident(socket, defaultRegistry(log), {
      isOwnNetns,
      stats,
      ...(group ? { group } : {}),
      onError: (e) => log(`podnet resident: ${e.message}`),
    });
  } catch (e) {
    log(`podnet resident: ${(e as Error).message}`);
    return 1;
  }
  const served = listener;
  log(`podnet resident: serving loopback, bridge, host-local, portmap, bandwidth on ${served.path}${group ? ` (root and group ${group.name})` : " (root only)"}`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      served.close().then(() => {
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
