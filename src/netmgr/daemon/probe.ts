// Start-up probing: what CNI executables each bin dir holds and which exec plugins the plugin dir
// has, remembered for the daemon's life; and the start-up check that the chosen plugin's binaries
// are there, with a message listing what was found when they are not.
import type { ExecPluginFs, ExecPluginInfo } from "../plugins/exec/exec.js";
import { probeExecPlugins } from "../plugins/exec/exec.js";
import { REQUIRED_CNI_PLUGINS } from "../plugins/kubenet/config.js";
import { CNI_PLUGIN_NAME, KUBENET_PLUGIN_NAME } from "../core/plugin.js";

export interface BinDirListing {
  readonly dir: string;
  /** Executable regular files, sorted. */
  readonly plugins: readonly string[];
  /** Why the directory could not be listed. */
  readonly error?: string;
}

export interface ProbeResult {
  readonly cniBinDirs: readonly BinDirListing[];
  readonly kubenetBinDirs: readonly BinDirListing[];
  readonly execPluginDir: string;
  readonly execPlugins: readonly ExecPluginInfo[];
}

export interface ProbeFs extends ExecPluginFs {}

/** Lists the executables of a directory (sorted); a missing directory is reported, not thrown. */
export function listBinDir(dir: string, fs: ProbeFs): BinDirListing {
  let entries: Array<{ name: string; isDirectory: boolean }>;
  try {
    entries = fs.readdir(dir);
  } catch (e) {
    return { dir, plugins: [], error: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  }
  const plugins = entries
    .filter((e) => !e.isDirectory)
    .map((e) => e.name)
    .filter((n) => {
      const m = fs.mode(`${dir.replace(/\/+$/, "")}/${n}`);
      return m !== undefined && (m & 0o111) !== 0;
    })
    .sort();
  return { dir, plugins };
}

/** --cni-bin-dir is comma-separated; empty entries are dropped. */
export const splitBinDirs = (s: string): string[] =>
  s
    .split(",")
    .map((d) => d.trim())
    .filter((d) => d !== "");

export function probeNetworkPlugins(
  o: { cniBinDirs: readonly string[]; kubenetBinDirs: readonly string[]; networkPluginDir: string },
  fs: ProbeFs,
): ProbeResult {
  return {
    cniBinDirs: o.cniBinDirs.map((d) => listBinDir(d, fs)),
    kubenetBinDirs: o.kubenetBinDirs.map((d) => listBinDir(d, fs)),
    execPluginDir: o.networkPluginDir,
    execPlugins: probeExecPlugins(o.networkPluginDir, fs),
  };
}

/** "dir: a, b; dir2: (missing)" */
export function describeFound(listings: readonly BinDirListing[]): string {
  return listings
    .map((l) => `${l.dir}: ${l.error ? `(${l.error})` : l.plugins.length ? l.plugins.join(", ") : "(empty)"}`)
    .join("; ");
}

/**
 * The binaries the chosen plugin cannot work without: kubenet needs bridge, host-local and loopback
 * in one directory; cni needs loopback; an exec plugin its executable. Returns the problem, or
 * undefined when everything is there.
 */
export function checkRequiredBinaries(pluginName: string, p: ProbeResult): string | undefined {
  if (pluginName === KUBENET_PLUGIN_NAME) {
    if (p.kubenetBinDirs.some((l) => REQUIRED_CNI_PLUGINS.every((r) => l.plugins.includes(r)))) return undefined;
    return `could not locate kubenet required CNI plugins [${REQUIRED_CNI_PLUGINS.join(" ")}] in one directory of [${p.kubenetBinDirs.map((l) => l.dir).join(" ")}]; found: ${describeFound(p.kubenetBinDirs)}`;
  }
  if (pluginName === CNI_PLUGIN_NAME) {
    if (p.cniBinDirs.some((l) => l.plugins.includes("loopback"))) return undefined;
    return `the cni plugin needs the "loopback" CNI plugin in --cni-bin-dir [${p.cniBinDirs.map((l) => l.dir).join(" ")}]; found: ${describeFound(p.cniBinDirs)}`;
  }
  return undefined; // an exec plugin's executable is checked by its init
}
