// Finding a plugin executable in CNI_PATH (libcni FindInPath): the first regular file wins.
import { statSync } from "node:fs";
import { join } from "node:path";
import { CniError, CniCode } from "../cni/index.js";

export function findInPath(name: string, dirs: readonly string[]): string {
  if (name === "") throw new CniError(CniCode.InvalidNetworkConfig, "no plugin name provided");
  if (name.includes("/")) throw new CniError(CniCode.InvalidNetworkConfig, `invalid plugin name: ${name}`);
  if (dirs.length === 0) throw new CniError(CniCode.InvalidEnvironmentVariables, "no paths provided");
  for (const dir of dirs) {
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here; try the next directory
    }
  }
  throw new CniError(CniCode.PluginNotAvailable, `failed to find plugin "${name}" in path [${dirs.join(" ")}]`);
}

export const splitCniPath = (p: string | undefined): string[] => (p ?? "").split(":").filter((d) => d !== "");
