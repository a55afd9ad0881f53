import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic, writeFileAtomicSync } from "./atomic-write.js";

function withDir(fn: (dir: string) => Promise<void> | void) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-aw-"));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

describe("atomic writes", () => {
  it(
    "replaces a file with exactly the mode asked for, leaving nothing else",
    withDir((dir) => {
      const p = join(dir, "state.json");
      writeFileSync(p, "old", { mode: 0o600 });
      writeFileAtomicSync(p, "new", { mode: 0o644 });
      assert.equal(readFileSync(p, "utf8"), "new");
      assert.equal(statSync(p).mode & 0o777, 0o644);
      writeFileAtomicSync(p, Buffer.from("newer"));
      assert.equal(statSync(p).mode & 0o777, 0o600, "0600 by default");
      assert.deepEqual(readdirSync(dir), ["state.json"]);
    }),
  );

  it(
    "replaces a symlink at the path, never writing through it",
    withDir((dir) => {
      const target = join(dir, "target");
      writeFileSync(target, "keep");
      symlinkSync(target, join(dir, "link"));
      writeFileAtomicSync(join(dir, "link"), "mine");
      assert.equal(readFileSync(target, "utf8"), "keep");
      assert.throws(() => readlinkSync(join(dir, "link")), /EINVAL/);
    }),
  );

  it(
    "removes its temporary file when the rename fails",
    withDir(async (dir) => {
      mkdirSync(join(dir, "taken", "x"), { recursive: true });
      assert.throws(() => writeFileAtomicSync(join(dir, "taken"), "x"));
      await assert.rejects(writeFileAtomic(join(dir, "taken"), "x", { fsync: true }));
      assert.deepEqual(readdirSync(dir), ["taken"]);
    }),
  );

  it(
    "writes asynchronously, with fsync",
    withDir(async (dir) => {
      const p = join(dir, "local.json");
      await writeFileAtomic(p, "{}\n", { fsync: true });
      await writeFileAtomic(p, '{"a":1}\n', { mode: 0o640 });
      assert.equal(readFileSync(p, "utf8"), '{"a":1}\n');
      assert.equal(statSync(p).mode & 0o777, 0o640);
      assert.deepEqual(readdirSync(dir), ["local.json"]);
    }),
  );
});
