// What the build stamps into dist/src/build-info.json for `podnet version`: the git commit of
// the checkout being built ("-dirty" when tracked files differ from it), or "unknown" when the
// package is not its own git checkout (an unpacked npm tarball, a copy, a checkout nested in
// another repository's tree).
import { spawnSync } from "node:child_process";
import { mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const git = (root, args) => {
  const r = spawnSync("git", ["-C", root, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

/** The commit of `root`, "<sha>-dirty", or "unknown". */
export function gitCommit(root) {
  const top = git(root, ["rev-parse", "--show-toplevel"]);
  if (!top || realpathSync(top) !== realpathSync(root)) return "unknown";
  const sha = git(root, ["rev-parse", "HEAD"]);
  if (!sha || !/^[0-9a-f]{40,64}$/.test(sha)) return "unknown";
  const dirty = git(root, ["status", "--porcelain", "--untracked-files=no"]);
  return dirty ? `${sha}-dirty` : sha;
}

export function writeBuildInfo(root) {
  const info = { commit: gitCommit(root) };
  mkdirSync(join(root, "dist", "src"), { recursive: true });
  writeFileSync(join(root, "dist", "src", "build-info.json"), `${JSON.stringify(info)}\n`);
  return info;
}
