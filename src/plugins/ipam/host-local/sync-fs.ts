// StoreFs over node:fs's synchronous calls, for the plugin executable: a CNI plugin process has
// nothing to overlap with its file I/O, and one synchronous call costs far less than the
// thread-pool round trips of fs/promises (whose module alone takes ~2 ms to load). A long-lived
// process that runs host-local in-process (the node manager) should pass node:fs/promises instead.
import * as fs from "node:fs";
import { readFileBounded } from "../../../kernel/read-bounded.js";
import type { HostLocalFs } from "./host-local.js";

const wrap =
  <A extends unknown[], R>(f: (...a: A) => R) =>
  async (...a: A): Promise<R> =>
    f(...a);

export const syncFs: HostLocalFs = {
  mkdir: wrap((path: string, opts: { recursive: true; mode: number }) => fs.mkdirSync(path, opts)),
  readdir: wrap((path: string, opts: { withFileTypes: true }) => fs.readdirSync(path, opts)),
  readFile: wrap((path: string, encoding: "utf8") => fs.readFileSync(path, encoding)),
  writeFile: wrap((path: string, data: string, opts: { mode: number; flag: "w" | "wx" }) =>
    fs.writeFileSync(path, data, opts),
  ),
  link: wrap((existing: string, target: string) => fs.linkSync(existing, target)),
  unlink: wrap((path: string) => fs.unlinkSync(path)),
  readFileSync: (path, encoding) => fs.readFileSync(path, encoding),
  readFileLimited: wrap((path: string, maxBytes: number) => readFileBounded(path, maxBytes).toString("utf8")),
};
