// Test helpers of the meta plugins: an in-memory StateFs (files keyed by full path).
import type { StateFs } from "./attachment-state.js";

export function memStateFs(
  initial: Record<string, string> = {},
): StateFs & { files: Map<string, string>; dirs: Set<string> } {
  const files = new Map<string, string>(Object.entries(initial));
  /** Directories made by mkdir (those of `initial` files are implied). */
  const dirs = new Set<string>();
  const enoent = (p: string) => Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
  return {
    files,
    dirs,
    mkdir: async (p) => void dirs.add(p),
    readFile: async (p) => {
      const v = files.get(p);
      if (v === undefined) throw enoent(p);
      return v;
    },
    writeFile: async (p, d) => void files.set(p, d),
    rename: async (a, b) => {
      const v = files.get(a);
      if (v === undefined) throw enoent(a);
      files.delete(a);
      files.set(b, v);
    },
    unlink: async (p) => {
      if (!files.delete(p)) throw enoent(p);
    },
    readdir: async (p) => {
      const names = new Set<string>();
      for (const f of files.keys()) if (f.startsWith(`${p}/`)) names.add(f.slice(p.length + 1).split("/")[0]!);
      if (names.size === 0) throw enoent(p);
      return [...names];
    },
    rmdir: async (p) => {
      if ([...files.keys()].some((f) => f.startsWith(`${p}/`)))
        throw Object.assign(new Error(`ENOTEMPTY: ${p}`), { code: "ENOTEMPTY" });
      if (!dirs.delete(p)) throw enoent(p);
    },
  };
}
