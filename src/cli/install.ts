// `podnet install`: sets a node up — the CNI plugins in --cni-bin-dir (the resident-mode launchers
// by default, the plain Node plugins with --exec), systemd units for `podnet node` and
// `podnet resident`, and with --conflist a CNI network config — and records every file it wrote
// in a manifest (src/deploy/manifest.ts) that `podnet uninstall` undoes. Files podnet did not
// write are never overwritten without --force. docs/operations.md walks through a whole node.
//
// The units run this package's CLI by absolute path with the Node running this command: the
// package (a checkout or an npm install) stays where it is, and an upgrade is: update it, run
// `podnet install` again, restart the unit.
import { existsSync, realpathSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { validateNetworkName } from "../cni/index.js";
import { confFiles, DEFAULT_CONF_DIR } from "../libcni/confdir.js";
import {
  CONFLIST_FILE,
  ConflistError,
  conflistText,
  DEFAULT_NETWORK_NAME,
  DEFAULT_POD_CIDR,
  parsePodCIDRs,
} from "../deploy/conflist.js";
import { install, type InstallReport, type ReportLine, type WantedFile } from "../deploy/install.js";
import { DEFAULT_STATE_DIR, type Component } from "../deploy/manifest.js";
import { insideEsmPackage, pluginFiles, refreshCodeCache, withFreshCodeCaches } from "../deploy/plugins.js";
import { DEFAULT_CNI_SOCKET, DEFAULT_SYSTEMD_DIR, NODE_UNIT, RESIDENT_UNIT, systemdUnits } from "../deploy/units.js";
import { EXIT_FAILURE, EXIT_OK, exitCodes, parseCommandArgs, usageError } from "./args.js";
import { versionInfo } from "./version.js";

export const DEFAULT_CNI_BIN_DIR = "/opt/cni/bin";

const USAGE = `usage: podnet install [flags]
  Installs podnet on this node and records every file it writes in a manifest
  (--state-dir/install-manifest.json); \`podnet uninstall\` removes exactly those.

  --cni-bin-dir DIR     where runtimes look for CNI plugins (default ${DEFAULT_CNI_BIN_DIR})
  --exec                install the plain Node plugins; the default is the resident-mode
                        launchers (~1 ms each, handing the call to the podnet daemon), which run
                        the Node plugin beside them when no daemon answers
  --from DIR            the built plugins (default: build/resident, or build/cni with --exec)
  --systemd-dir DIR     where the units go (default ${DEFAULT_SYSTEMD_DIR}): ${NODE_UNIT} and
                        ${RESIDENT_UNIT} (enable one; both serve the launchers)
  --no-systemd          write no units
  --cni-socket PATH     the launchers' socket the units serve (default ${DEFAULT_CNI_SOCKET},
                        where the launchers look unless PODNET_CNI_SOCKET is set for them)
  --node-arg ARG        an argument for \`podnet node\` in ${NODE_UNIT} (repeatable), e.g.
                        --node-arg=--network-plugin=kubenet --node-arg=--pod-cidr=10.244.1.0/24
  --conflist            also write a CNI network config, ${CONFLIST_FILE}: bridge + host-local,
                        portmap (portMappings), bandwidth (bandwidth)
  --cni-conf-dir DIR    where it goes (default ${DEFAULT_CONF_DIR})
  --pod-cidr CIDR       this node's pod range, or an IPv4 and an IPv6 one comma-separated
                        (default ${DEFAULT_POD_CIDR})
  --network-name NAME   the network's name in the config (default ${DEFAULT_NETWORK_NAME})
  --state-dir DIR       where the manifest and the backups of replaced files go (default ${DEFAULT_STATE_DIR})
  --force               replace files podnet did not write (each is saved and put back by
                        podnet uninstall) and podnet's files changed since it wrote them
  --dry-run             print what would be done; change nothing
${exitCodes({ failure: "failure, or a file podnet did not write is in the way (each is named; nothing was changed)" })}`;

const OPTIONS = {
  "cni-bin-dir": { type: "string" },
  exec: { type: "boolean" },
  from: { type: "string" },
  "systemd-dir": { type: "string" },
  "no-systemd": { type: "boolean" },
  "cni-socket": { type: "string" },
  "node-arg": { type: "string", multiple: true },
  conflist: { type: "boolean" },
  "cni-conf-dir": { type: "string" },
  "pod-cidr": { type: "string" },
  "network-name": { type: "string" },
  "state-dir": { type: "string" },
  force: { type: "boolean" },
  "dry-run": { type: "boolean" },
} as const;

/** <package>/build/resident or build/cni (from dist/src/cli/install.js). */
export function defaultBuildDir(resident: boolean): string {
  return fileURLToPath(new URL(resident ? "../../../build/resident" : "../../../build/cni", import.meta.url));
}

/** <package>/bin/podnet, real path: what the units run. */
export function cliPath(): string {
  return realpathSync(fileURLToPath(new URL("../../../bin/podnet", import.meta.url)));
}

function docsPath(): string | undefined {
  const p = fileURLToPath(new URL("../../../docs/operations.md", import.meta.url));
  return existsSync(p) ? realpathSync(p) : undefined;
}

const WOULD: Record<ReportLine["action"], string> = {
  wrote: "would write",
  updated: "would update",
  unchanged: "unchanged",
  replaced: "would replace",
  removed: "would remove",
  restored: "would restore",
  kept: "would keep",
};

/** One line per path: "wrote /opt/cni/bin/bridge", "replaced … (why)"; "would …" for a dry run. */
export function formatReport(lines: readonly ReportLine[], dryRun: boolean): string {
  return lines.map((l) => `${dryRun ? WOULD[l.action] : l.action} ${l.path}${l.note ? ` (${l.note})` : ""}\n`).join("");
}

export async function run(args: string[]): Promise<number> {
  const p = parseCommandArgs("install", USAGE, args, OPTIONS);
  if (typeof p === "number") return p;
  const v = p.values;
  const conflistOnly = (["cni-conf-dir", "pod-cidr", "network-name"] as const).find((k) => v[k] !== undefined);
  if (conflistOnly && !v.conflist) return usageError("install", `--${conflistOnly} needs --conflist`, USAGE);
  if (v["no-systemd"] && (v["node-arg"]?.length || v["systemd-dir"] !== undefined)) {
    return usageError(
      "install",
      `--${v["node-arg"]?.length ? "node-arg" : "systemd-dir"} and --no-systemd do not go together`,
      USAGE,
    );
  }
  const cniSocket = v["cni-socket"] ?? DEFAULT_CNI_SOCKET;
  if (!cniSocket.startsWith("/"))
    return usageError("install", `--cni-socket: must be an absolute path, got ${JSON.stringify(cniSocket)}`, USAGE);
  const networkName = v["network-name"] ?? DEFAULT_NETWORK_NAME;
  try {
    validateNetworkName(networkName);
  } catch {
    return usageError(
      "install",
      `--network-name: ${JSON.stringify(networkName)} is not a CNI network name (letters, digits, "_.-", starting with a letter or digit)`,
      USAGE,
    );
  }
  let podCIDRs: ReturnType<typeof parsePodCIDRs>;
  try {
    podCIDRs = parsePodCIDRs(v["pod-cidr"] ?? DEFAULT_POD_CIDR);
  } catch (e) {
    if (e instanceof ConflistError) return usageError("install", e.message, USAGE);
    throw e;
  }

  const binDir = resolve(v["cni-bin-dir"] ?? DEFAULT_CNI_BIN_DIR);
  const confDir = resolve(v["cni-conf-dir"] ?? DEFAULT_CONF_DIR);
  const systemdDir = resolve(v["systemd-dir"] ?? DEFAULT_SYSTEMD_DIR);
  const stateDir = resolve(v["state-dir"] ?? DEFAULT_STATE_DIR);
  const resident = !v.exec;
  const info = versionInfo();
  const files: WantedFile[] = [];
  const components: Component[] = ["plugins"];
  try {
    const built = pluginFiles(resolve(v.from ?? defaultBuildDir(resident)), process.execPath);
    for (const f of v["dry-run"] ? built : await withFreshCodeCaches(built, refreshCodeCache)) {
      files.push({ path: join(binDir, f.name), bytes: f.bytes, mode: f.mode, component: "plugins" });
    }
    // Bundles are CommonJS without an extension: inside a "type": "module" package Node would read them as ESM.
    if (insideEsmPackage(binDir))
      files.push({
        path: join(binDir, "package.json"),
        bytes: Buffer.from(`${JSON.stringify({ type: "commonjs" })}\n`),
        mode: 0o644,
        component: "plugins",
      });
    if (!v["no-systemd"]) {
      components.push("systemd");
      const docs = docsPath();
      const units = systemdUnits({
        node: process.execPath,
        cli: cliPath(),
        cniSocket,
        nodeArgs: v["node-arg"] ?? [],
        writtenBy: `podnet ${info.version}, commit ${info.commit}`,
        ...(docs ? { docs } : {}),
      });
      for (const u of units)
        files.push({ path: join(systemdDir, u.name), bytes: Buffer.from(u.text), mode: 0o644, component: "systemd" });
    }
    if (v.conflist) {
      components.push("conflist");
      files.push({
        path: join(confDir, CONFLIST_FILE),
        bytes: Buffer.from(conflistText({ name: networkName, podCIDRs })),
        mode: 0o644,
        component: "conflist",
      });
    }
  } catch (e) {
    process.stderr.write(`podnet install: ${(e as Error).message}\n`);
    return EXIT_FAILURE;
  }

  let report: InstallReport;
  try {
    report = install({
      stateDir,
      files,
      components,
      force: v.force === true,
      dryRun: v["dry-run"] === true,
      euid: process.geteuid?.() ?? 0,
      podnet: info.version,
      commit: info.commit,
      now: new Date().toISOString(),
    });
  } catch (e) {
    // refused (InstallConflictError: each file named, nothing changed), an untrusted manifest, or I/O
    process.stderr.write(`podnet install: ${(e as Error).message}\n`);
    return EXIT_FAILURE;
  }
  const dry = v["dry-run"] === true;
  process.stdout.write(formatReport(report.lines, dry));
  process.stdout.write(`${dry ? "would record" : "recorded"} in ${report.manifest}\n`);
  if (v.conflist) {
    const first = confFiles(confDir).filter((f) => basename(f) !== CONFLIST_FILE)[0];
    if (first && basename(first) < CONFLIST_FILE) {
      process.stderr.write(
        `podnet install: note: containerd and CRI-O use the first config in ${confDir} by name, and ${basename(first)} comes before ${CONFLIST_FILE}: move it away for podnet's to be used\n`,
      );
    }
  }
  if (!dry && !v["no-systemd"]) {
    process.stdout.write(
      `next:\n` +
        `  systemctl daemon-reload\n` +
        `  systemctl enable --now ${RESIDENT_UNIT}   # the runtime (containerd, CRI-O) runs CNI; this serves the launchers\n` +
        `  # or: systemctl enable --now ${NODE_UNIT}   # the node network manager, serving the launchers too\n`,
    );
  }
  return EXIT_OK;
}
