// `podnet resident [--socket PATH] [--socket-group GROUP] [--metrics-bind-address HOST:PORT] [--workers N]` —
// serves podnet's plugins in-process to the resident-mode launchers (build/resident/<plugin>, installed by `podnet install`): each
// CNI call then costs a ~1 ms launcher exec instead of a Node start-up. The calls run on N worker
// threads (plugin-workers.ts), so pods set up in parallel do not queue behind each other's kernel
// waits. Without this daemon the launchers fall back to the Node plugins, so stopping it never
// breaks pod networking.
// Its log is the node manager's: JSON lines on stderr (src/netmgr/core/log.ts). Who may connect,
// and what the daemon checks: docs/security.md.
import { DEFAULT_CNI_SOCKET } from "../deploy/units.js";
import { resolveGroup, type SocketGroup, type UnixListener } from "../kernel/unix-listener.js";
import { DEFAULT_WORKERS, workerPluginHost } from "../netmgr/invoke/plugin-workers.js";
import { RESIDENT_PLUGINS } from "../resident/registry.js";
import { newServeStats, serveResident } from "../resident/server.js";
import { exitCodes, parseCommandArgs, usageError } from "./args.js";
import { versionInfo } from "./version.js";
import { createJsonLogger, isLogLevel } from "../netmgr/core/log.js";
import { type BindAddress, formatBindAddress, parseBindAddress } from "../netmgr/daemon/bind-address.js";
import { createMetricsHandler, type MetricsServer, serveMetrics } from "../netmgr/daemon/metrics-server.js";
import { registerBuildInfo, registerResidentMetrics } from "../netmgr/daemon/node-metrics.js";
import { PromMetricsRegistry } from "../netmgr/daemon/prom-registry.js";
import { errorMessage } from "../util/error-message.js";

const MAX_WORKERS = 64;

const USAGE =
  `usage: podnet resident [--socket PATH] [--socket-group GROUP] [--metrics-bind-address HOST:PORT] [--log-level LEVEL] [--workers N]\n` +
  `  --socket PATH                    the launchers' socket (default $PODNET_CNI_SOCKET or ${DEFAULT_CNI_SOCKET})\n` +
  `  --socket-group GROUP             members of GROUP (a name or GID) may use it too (root only by default)\n` +
  `  --metrics-bind-address HOST:PORT serve /metrics, /healthz and /readyz over TCP (e.g. 127.0.0.1:9967); off by default\n` +
  `  --log-level LEVEL                debug | info | warn | error (default info); the log is JSON lines on stderr\n` +
  `  --workers N                      worker threads running the plugin calls, 1 to ${MAX_WORKERS} (default ${DEFAULT_WORKERS})\n` +
  `  Runs until SIGTERM or SIGINT.\n` +
  exitCodes({ failure: "the socket (or the metrics address) could not be served (the reason is on stderr)" });

export async function run(argv: string[]): Promise<number> {
  const p = parseCommandArgs("resident", USAGE, argv, {
    socket: { type: "string" },
    "socket-group": { type: "string" },
    "metrics-bind-address": { type: "string" },
    "log-level": { type: "string" },
    workers: { type: "string" },
  });
  if (typeof p === "number") return p;
  const values = p.values;
  const socket = values.socket ?? process.env["PODNET_CNI_SOCKET"] ?? DEFAULT_CNI_SOCKET;
  let group: SocketGroup | undefined;
  try {
    if (values["socket-group"] !== undefined) group = resolveGroup(values["socket-group"]);
  } catch (e) {
    return usageError("resident", `--socket-group: ${(e as Error).message}`, USAGE);
  }
  const level = values["log-level"] ?? "info";
  if (!isLogLevel(level))
    return usageError(
      "resident",
      `--log-level: must be debug, info, warn or error, got ${JSON.stringify(level)}`,
      USAGE,
    );
  let metricsAt: BindAddress | undefined;
  try {
    if (values["metrics-bind-address"] !== undefined && values["metrics-bind-address"] !== "")
      metricsAt = parseBindAddress(values["metrics-bind-address"]);
  } catch (e) {
    return usageError("resident", `--metrics-bind-address: ${(e as Error).message}`, USAGE);
  }
  let workers = DEFAULT_WORKERS;
  if (values.workers !== undefined) {
    workers = Number(values.workers);
    if (!/^[0-9]+$/.test(values.workers) || workers < 1 || workers > MAX_WORKERS) {
      return usageError(
        "resident",
        `--workers: must be a whole number from 1 to ${MAX_WORKERS}, got ${JSON.stringify(values.workers)}`,
        USAGE,
      );
    }
  }
  const log = createJsonLogger((line) => process.stderr.write(line), level);
  const stats = newServeStats();
  const host = workerPluginHost({
    size: workers,
    log: (m) => log.warn(m.trim(), { source: "plugin" }),
  });
  const metrics = new PromMetricsRegistry();
  registerBuildInfo(metrics, versionInfo());
  const observer = registerResidentMetrics(metrics, RESIDENT_PLUGINS);
  let serving = false;
  let listener: UnixListener;
  try {
    // the first calls should not wait for the workers to load the plugins (~100 ms)
    await host.warm?.();
    listener = await serveResident(socket, host, {
      stats,
      ...(group ? { group } : {}),
      onError: (e) => log.warn("resident plugin request", { socket, error: e.message }),
      onCall: (c) => observer.onCall(c),
      onRefused: (r) => observer.onRefused(r),
    });
  } catch (e) {
    log.error("cannot serve the launchers' socket", { socket, err: e });
    process.stderr.write(`podnet resident: ${errorMessage(e)}\n`);
    await host.close();
    return 1;
  }
  const served = listener;
  serving = true;
  let metricsServer: MetricsServer | undefined;
  if (metricsAt) {
    try {
      metricsServer = await serveMetrics(
        metricsAt,
        createMetricsHandler({
          render: () => metrics.render(),
          contentType: metrics.contentType,
          ready: () => (serving ? null : "not serving the launchers' socket"),
          log,
        }),
      );
    } catch (e) {
      await served.close();
      await host.close();
      const msg = `--metrics-bind-address ${formatBindAddress(metricsAt)}: ${errorMessage(e)}`;
      log.error(msg);
      process.stderr.write(`podnet resident: ${msg}\n`);
      return 1;
    }
    log.info("serving /metrics, /healthz and /readyz", { address: formatBindAddress(metricsServer.address) });
  }
  log.info(`serving ${RESIDENT_PLUGINS.join(", ")} on ${served.path} with ${workers} worker threads`, {
    socket: served.path,
    plugins: RESIDENT_PLUGINS,
    workers,
    allowed: group ? `root, group ${group.name}` : "root",
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      serving = false;
      log.info("shutting down", { signal });
      Promise.all([served.close(), metricsServer?.close()])
        .then(() => host.close())
        .then(() => {
          log.info(
            `stopped after ${stats.calls} calls (${stats.errors} errors; ${stats.skipped} skipped, their launcher gone; ` +
              `${stats.malformed} malformed; ${stats.rejected} connections refused)`,
            { ...stats },
          );
          resolve();
        });
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return 0;
}
