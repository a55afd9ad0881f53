// Recognising podnet's own plugin executables from their first bytes: a bundle built from this SDK
// (its about text, aboutText() in dispatch.ts, carries "plugin podnet v"), or the resident-mode
// launcher (native/launcher.c), which hands every plugin name to a podnet daemon. The IPAM
// delegation runs podnet's host-local in-process on it, and the node manager podnet's plugins.

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
  return bytes.subarray(0, 2).toString() === "#!" && bytes.includes(PODNET_MARK) && bytes.includes(Buffer.from(`"${name}"`));
}
