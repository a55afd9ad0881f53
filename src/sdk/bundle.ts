// Recognising podnet's own plugin executables from their bytes: a bundle built from this SDK
// (its about text, aboutText() in dispatch.ts, carries "plugin podnet v"), or the resident-mode
// launcher (native/launcher.c), which hands every plugin name to a podnet daemon. The IPAM
// delegation runs podnet's host-local in-process on it, and the node manager podnet's plugins.
import { readFileSync, statSync } from "node:fs";

/** The text every podnet plugin bundle carries (from the SDK's about text). */
const PODNET_MARK = Buffer.from("plugin podnet v");
/** The text in native/launcher.c, the resident-mode executable every podnet plugin name may be. */
const LAUNCHER_MARK = Buffer.from("podnet launcher: ");
const ELF = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/**
 * True when `bytes` is a podnet plugin for `name`: a script (`#!`) built from this repository's
 * SDK that contains the plugin's name as a string, or podnet's resident-mode launcher (an ELF
 * that hands every plugin name to the daemon). Go plugins are ELF binaries without the mark.
 */
export function isPodnetBundle(bytes: Buffer, name: string): boolean {
  if (bytes.subarray(0, 4).equals(ELF)) return bytes.includes(LAUNCHER_MARK);
  return (
    bytes.subarray(0, 2).toString() === "#!" && bytes.includes(PODNET_MARK) && bytes.includes(Buffer.from(`"${name}"`))
  );
}

/** Whether the file at `path` is podnet's own plugin for `name` (see isPodnetBundle). */
export type PodnetPluginCheck = (path: string, name: string) => boolean;

/**
 * The one check of a plugin file, for every caller in a process (the IPAM delegation, the node
 * manager's in-process invoker): the answer is kept per file identity (device, inode, size,
 * mtime), so a file is read again only when it was replaced or changed — a bundle is ~100 KB, a
 * Go plugin several MB. A file that cannot be read is not podnet's.
 */
export function podnetPluginCheck(readFile: (path: string) => Buffer = (p) => readFileSync(p)): PodnetPluginCheck {
  const cache = new Map<string, { id: string; ok: boolean }>();
  return (path, name) => {
    let id: string;
    try {
      const st = statSync(path);
      id = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return false;
    }
    const k = `${name}\0${path}`;
    const hit = cache.get(k);
    if (hit?.id === id) return hit.ok;
    let ok = false;
    try {
      ok = isPodnetBundle(readFile(path), name);
    } catch {
      ok = false;
    }
    cache.set(k, { id, ok });
    return ok;
  };
}
