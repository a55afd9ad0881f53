// The systemd units `podnet install` writes, and systemd's command-line quoting both ways.
//
//   podnet-node.service      `podnet node --cni-socket=…`: the node network manager, which also
//                            serves the resident-mode launchers
//   podnet-resident.service  `podnet resident --socket=…`: only the launchers' daemon (a node
//                            whose runtime — containerd, CRI-O — runs CNI itself)
//
// The two serve the same socket, so each conflicts with the other: enable one.
//
// Hardening: only what keeps a root network daemon working. Nothing that gives the service its
// own mount namespace (ProtectSystem=, ProtectHome=, PrivateTmp=, ProtectKernelTunables=,
// ProtectKernelModules=, ReadOnlyPaths=…): network namespaces are bind mounts under /run/netns
// that the runtime must see, podnet writes /proc/sys and loads br_netfilter, and the plugins write
// /var/lib/cni. No capability bounding set: `podnet node` execs whatever CNI plugins the node has.
import { pathToFileURL } from "node:url";
import { PodnetError } from "../util/errors.js";

export const NODE_UNIT = "podnet-node.service";
export const RESIDENT_UNIT = "podnet-resident.service";
export const DEFAULT_SYSTEMD_DIR = "/etc/systemd/system";
/** Where the launchers look for their daemon (native/launcher.c PODNET_DEFAULT_SOCKET). */
export const DEFAULT_CNI_SOCKET = "/run/podnet/cni.sock";

export class UnitError extends PodnetError {
  override name = "UnitError";
  readonly code = "PODNET_INSTALL_UNIT";
}

/** One argument of an ExecStart= line, quoted for systemd (%, $ and \ escaped). */
export function systemdQuote(arg: string): string {
  if (arg.includes("\0")) throw new UnitError(`a command-line argument cannot hold a NUL byte: ${JSON.stringify(arg)}`);
  if (/^[A-Za-z0-9_/.,:=+-][A-Za-z0-9_/.,:=+@-]*$/.test(arg)) return arg;
  const body = arg
    .replace(/\\/g, "\\\\")
    .replace(/"/g, '\\"')
    .replace(/\n/g, "\\n")
    .replace(/\t/g, "\\t")
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point (they are escaped as \xNN)
    .replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)
    .replace(/%/g, "%%")
    .replace(/\$/g, "$$$$");
  return `"${body}"`;
}

export const execLine = (argv: readonly string[]): string => argv.map(systemdQuote).join(" ");

const ESCAPES: Record<string, string> = {
  "\\": "\\",
  '"': '"',
  "'": "'",
  n: "\n",
  t: "\t",
  s: " ",
  r: "\r",
  a: "\x07",
  b: "\b",
  f: "\f",
  v: "\v",
};

/**
 * The argv systemd runs for an ExecStart= value: words split at whitespace, "…" and '…' quoting,
 * C escapes, `%%` → `%`, `$$` → `$`. Prefixes (@-:+!) and other specifiers or variables are
 * refused: podnet's units use none. The inverse of execLine.
 */
export function parseExecStart(value: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = value.length;
  if (/^[@\-:+!]/.test(value.trimStart())) throw new UnitError(`ExecStart prefixes are not used by podnet: ${value}`);
  while (i < n) {
    while (i < n && /\s/.test(value[i]!)) i++;
    if (i >= n) break;
    let word = "";
    let quote: string | undefined;
    for (; i < n; i++) {
      const c = value[i]!;
      if (quote === undefined && /\s/.test(c)) break;
      if (quote === undefined && (c === '"' || c === "'")) {
        quote = c;
        continue;
      }
      if (c === quote) {
        quote = undefined;
        continue;
      }
      if (c === "\\") {
        const e = value[++i];
        if (e === undefined) throw new UnitError(`ExecStart ends in a backslash: ${value}`);
        if (e === "x") {
          word += String.fromCharCode(parseInt(value.slice(i + 1, i + 3), 16));
          i += 2;
          continue;
        }
        const v = ESCAPES[e];
        if (v === undefined) throw new UnitError(`unknown escape \\${e} in ExecStart: ${value}`);
        word += v;
        continue;
      }
      if (c === "%") {
        if (value[i + 1] !== "%")
          throw new UnitError(`specifier %${value[i + 1] ?? ""} in ExecStart: podnet's units use none`);
        word += "%";
        i++;
        continue;
      }
      if (c === "$") {
        if (value[i + 1] !== "$")
          throw new UnitError(`variable $${value[i + 1] ?? ""}… in ExecStart: podnet's units use none`);
        word += "$";
        i++;
        continue;
      }
      word += c;
    }
    if (quote !== undefined) throw new UnitError(`unterminated quote in ExecStart: ${value}`);
    out.push(word);
  }
  return out;
}

/** The ExecStart= value of a unit's text (the last one, as systemd keeps it). */
export function execStartOf(unitText: string): string {
  const lines = unitText.split("\n").filter((l) => l.startsWith("ExecStart="));
  const last = lines.at(-1);
  if (last === undefined) throw new UnitError("the unit has no ExecStart=");
  return last.slice("ExecStart=".length);
}

export interface UnitOptions {
  /** The Node that runs podnet (absolute). */
  readonly node: string;
  /** podnet's CLI entry (absolute): <package>/bin/podnet. */
  readonly cli: string;
  /** The launchers' socket. */
  readonly cniSocket: string;
  /** Extra arguments for `podnet node` (after --cni-socket). */
  readonly nodeArgs: readonly string[];
  /** docs/operations.md of the package, when it ships one. */
  readonly docs?: string;
  /** "podnet 0.1.0 (commit …)" for the header comment. */
  readonly writtenBy: string;
}

const HARDENING = [
  "NoNewPrivileges=yes",
  "LockPersonality=yes",
  "RestrictRealtime=yes",
  "RestrictSUIDSGID=yes",
  "SystemCallArchitectures=native",
];

function unit(
  o: UnitOptions,
  name: string,
  description: string,
  argv: readonly string[],
  other: string,
  extraHardening: readonly string[],
): { name: string; text: string } {
  const lines = [
    `# ${name}: written by \`podnet install\` (${o.writtenBy}); \`podnet uninstall\` removes it.`,
    `# A re-install rewrites this file: change it with a drop-in (systemctl edit ${name}).`,
    `[Unit]`,
    `Description=${description}`,
    ...(o.docs ? [`Documentation=${pathToFileURL(o.docs).href}`] : []),
    `After=network-online.target`,
    `Wants=network-online.target`,
    `Before=containerd.service crio.service kubelet.service`,
    `Conflicts=${other}`,
    ``,
    `[Service]`,
    `Type=exec`,
    `ExecStart=${execLine([o.node, o.cli, ...argv])}`,
    `Restart=always`,
    `RestartSec=2s`,
    `# SIGTERM to podnet (pods stay set up), then SIGKILL to anything it left running.`,
    `KillMode=mixed`,
    `TimeoutStopSec=30s`,
    `LimitNOFILE=65536`,
    `# See docs/operations.md for why there is no ProtectSystem=, PrivateTmp= or other mount namespace.`,
    ...HARDENING,
    ...extraHardening,
    ``,
    `[Install]`,
    `WantedBy=multi-user.target`,
    ``,
  ];
  return { name, text: lines.join("\n") };
}

export function systemdUnits(o: UnitOptions): Array<{ name: string; text: string }> {
  for (const p of [o.node, o.cli, o.cniSocket]) {
    if (!p.startsWith("/")) throw new UnitError(`unit paths must be absolute, got ${JSON.stringify(p)}`);
  }
  return [
    unit(
      o,
      NODE_UNIT,
      "podnet node network manager (also serves the resident-mode CNI launchers)",
      ["node", `--cni-socket=${o.cniSocket}`, ...o.nodeArgs],
      RESIDENT_UNIT,
      [],
    ),
    unit(
      o,
      RESIDENT_UNIT,
      "podnet resident: serves podnet's CNI plugins to the resident-mode launchers",
      ["resident", `--socket=${o.cniSocket}`],
      NODE_UNIT,
      // Only podnet's own plugins run here, and the tools they start (iptables, nft, tc, conntrack).
      ["RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6"],
    ),
  ];
}
