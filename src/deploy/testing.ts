// Test helpers for install/uninstall: a tree's every entry (type, mode, owner, content hash or
// link target), to show a tree came back byte-identical.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { sha256 } from "./files.js";

/** "rel/path" → "dir 0755 0:0" | "file 0644 0:0 <sha256>" | "link -> target", every entry under `root`. */
export function treeSnapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const p = rel ? join(root, rel) : root;
    const st = lstatSync(p);
    const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isSymbolicLink()) out[rel || "."] = `link -> ${readlinkSync(p)}`;
    else if (st.isDirectory()) {
      out[rel || "."] = `dir ${meta}`;
      for (const n of readdirSync(p).sort()) walk(rel ? join(rel, n) : n);
    } else out[rel || "."] = `file ${meta} ${sha256(readFileSync(p))}`;
  };
  walk("");
  return out;
}
