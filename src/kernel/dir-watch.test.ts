// The directory watcher: inotify's exact list of changed names (real kernel, a temp dir; needs the
// addon, not root), and its bookkeeping over a fake (overflow, replaced directories, remote file
// systems, the limit of watched directories).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  appendFileSync,
  chmodSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  IN,
  MAX_WATCHED_DIRS,
  addonInotifyOps,
  createDirWatcher,
  parseInotifyEvents,
  type InotifyOps,
} from "./dir-watch.js";

const sorted = (c: ReadonlySet<string> | "all" | undefined) => (c === undefined || c === "all" ? c : [...c].sort());

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "podnet-dirwatch-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("dir-watch over inotify", {
  skip: addonInotifyOps() ? false : "the addon has no inotify (rebuild it: npm run install)",
}, () => {
  it("answers all first, then exactly the names created, written, renamed, chmod'ed or removed", () =>
    withDir((dir) => {
      const w = createDirWatcher();
      try {
        writeFileSync(join(dir, "old"), "x");
        writeFileSync(join(dir, "keep"), "x");
        const first = w.changes(dir);
        assert.equal(first?.changed, "all");
        assert.deepEqual(sorted(w.changes(dir)?.changed), [], "nothing changed since");

        writeFileSync(join(dir, "10.0.0.2"), "c1\r\neth0"); // create + write
        appendFileSync(join(dir, "keep"), "y"); // written in place
        renameSync(join(dir, "old"), join(dir, "new")); // both names
        writeFileSync(join(dir, ".tmp"), "c2");
        linkSync(join(dir, ".tmp"), join(dir, "10.0.0.3")); // a hard link made in the directory
        unlinkSync(join(dir, ".tmp"));
        chmodSync(join(dir, "10.0.0.2"), 0o600);
        mkdirSync(join(dir, "sub"));
        const second = w.changes(dir);
        assert.equal(second?.dir, first?.dir, "the same directory keeps its key");
        assert.deepEqual(sorted(second?.changed), [".tmp", "10.0.0.2", "10.0.0.3", "keep", "new", "old", "sub"]);
        assert.deepEqual(sorted(w.changes(dir)?.changed), []);
        // inside a subdirectory is not this directory's business
        writeFileSync(join(dir, "sub", "f"), "x");
        assert.deepEqual(sorted(w.changes(dir)?.changed), []);
      } finally {
        w.close();
      }
    }));

  it("a directory removed and made again under the same path is a new directory: all, with a new key", () =>
    withDir((base) => {
      const dir = join(base, "net1");
      mkdirSync(dir);
      const w = createDirWatcher();
      try {
        const a = w.changes(dir);
        assert.equal(a?.changed, "all");
        rmSync(dir, { recursive: true });
        mkdirSync(dir);
        writeFileSync(join(dir, "10.0.0.2"), "c1");
        const b = w.changes(dir);
        assert.equal(b?.changed, "all");
        assert.notEqual(b?.dir, a?.dir);
        assert.deepEqual(sorted(w.changes(dir)?.changed), []);
      } finally {
        w.close();
      }
    }));

  it("a directory renamed away (the path now names another one) is all as well", () =>
    withDir((base) => {
      const dir = join(base, "net1");
      mkdirSync(dir);
      const w = createDirWatcher();
      try {
        w.changes(dir);
        renameSync(dir, join(base, "moved"));
        mkdirSync(dir);
        assert.equal(w.changes(dir)?.changed, "all");
        // the moved directory, asked about under its new path, is known from its first look only
        assert.equal(w.changes(join(base, "moved"))?.changed, "all");
      } finally {
        w.close();
      }
    }));

  it("two watchers (two threads' caches) each see every change", () =>
    withDir((dir) => {
      const [w1, w2] = [createDirWatcher(), createDirWatcher()];
      try {
        w1.changes(dir);
        w2.changes(dir);
        writeFileSync(join(dir, "a"), "1");
        assert.deepEqual(sorted(w1.changes(dir)?.changed), ["a"]);
        writeFileSync(join(dir, "b"), "1");
        assert.deepEqual(sorted(w2.changes(dir)?.changed), ["a", "b"]);
        assert.deepEqual(sorted(w1.changes(dir)?.changed), ["b"]);
      } finally {
        w1.close();
        w2.close();
      }
    }));

  it("a path that does not exist, or is not a directory, cannot be watched", () =>
    withDir((dir) => {
      const w = createDirWatcher();
      try {
        assert.equal(w.changes(join(dir, "missing")), undefined);
        writeFileSync(join(dir, "file"), "x");
        assert.equal(w.changes(join(dir, "file")), undefined);
        // and a later good path still works
        assert.equal(w.changes(dir)?.changed, "all");
      } finally {
        w.close();
      }
    }));
});

/** struct inotify_event in little-endian, the name padded to a multiple of 4 with NULs. */
function event(wd: number, mask: number, name = ""): Buffer {
  const len = name === "" ? 0 : Math.ceil((Buffer.byteLength(name) + 1) / 4) * 4;
  const b = Buffer.alloc(16 + len);
  b.writeInt32LE(wd, 0);
  b.writeUInt32LE(mask, 4);
  b.writeUInt32LE(len, 12);
  b.write(name, 16);
  return b;
}

/** A fake inotify: watch descriptors by path, events queued by the test. */
function fakeOps(fsType = 0xef53) {
  const queue: Buffer[] = [];
  const wds = new Map<string, number>();
  const removed: number[] = [];
  let next = 1;
  const ops: InotifyOps = {
    init: () => 3,
    addWatch: (_fd, path) => {
      let wd = wds.get(path);
      if (wd === undefined) {
        wd = next++;
        wds.set(path, wd);
      }
      return wd;
    },
    rmWatch: (_fd, wd) => void removed.push(wd),
    read: (_fd, buf) => {
      const b = queue.shift();
      if (!b) return 0;
      b.copy(buf);
      return b.length;
    },
    close: () => {},
    fsType: () => fsType,
  };
  return { ops, queue, wds, removed };
}

describe("dir-watch bookkeeping (fake inotify)", () => {
  it("parses events in host byte order, names without their NUL padding", () => {
    const evs = parseInotifyEvents(
      Buffer.concat([event(1, IN.CREATE, "10.0.0.2"), event(1, IN.DELETE_SELF), event(2, IN.MODIFY, "fd00:200::a")]),
      true,
    );
    assert.deepEqual(evs, [
      { wd: 1, mask: IN.CREATE, name: "10.0.0.2" },
      { wd: 1, mask: IN.DELETE_SELF, name: "" },
      { wd: 2, mask: IN.MODIFY, name: "fd00:200::a" },
    ]);
  });

  it("a queue overflow makes every directory all", () => {
    const f = fakeOps();
    const w = createDirWatcher(f.ops);
    w.changes("/a");
    w.changes("/b");
    f.queue.push(Buffer.concat([event(1, IN.CREATE, "x"), event(-1, IN.Q_OVERFLOW)]));
    assert.equal(w.changes("/a")?.changed, "all");
    assert.equal(w.changes("/b")?.changed, "all");
    assert.deepEqual(sorted(w.changes("/a")?.changed), []);
  });

  it("an event about the directory itself (removed, unmounted, chmod'ed) makes it all", () => {
    for (const mask of [IN.DELETE_SELF, IN.MOVE_SELF, IN.UNMOUNT, IN.IGNORED, IN.ATTRIB]) {
      const f = fakeOps();
      const w = createDirWatcher(f.ops);
      w.changes("/a");
      f.queue.push(event(1, mask));
      assert.equal(w.changes("/a")?.changed, "all", `mask ${mask}`);
    }
  });

  it("routes events to every path that names the watched inode", () => {
    const f = fakeOps();
    f.wds.set("/link", 1);
    const w = createDirWatcher(f.ops);
    w.changes("/a"); // wd 1
    w.changes("/link"); // the same inode: wd 1
    f.queue.push(event(1, IN.CREATE, "x"));
    assert.deepEqual(sorted(w.changes("/a")?.changed), ["x"]);
    assert.deepEqual(sorted(w.changes("/link")?.changed), ["x"]);
  });

  it("does not watch remote file systems (inotify would miss other hosts' changes)", () => {
    const f = fakeOps(0x6969); // NFS
    const w = createDirWatcher(f.ops);
    assert.equal(w.changes("/a"), undefined);
    assert.deepEqual(f.removed, [1]);
  });

  it(`watches at most ${MAX_WATCHED_DIRS} directories, dropping the least recently asked about`, () => {
    const f = fakeOps();
    const w = createDirWatcher(f.ops);
    for (let i = 0; i < MAX_WATCHED_DIRS; i++) w.changes(`/d${i}`);
    w.changes("/d0"); // recently used again
    w.changes("/new"); // one too many: /d1 goes
    assert.deepEqual(f.removed, [f.wds.get("/d1")]);
    assert.deepEqual(sorted(w.changes("/d0")?.changed), []);
    f.wds.set("/d1", 10_000); // the kernel hands out a new descriptor for it
    assert.equal(w.changes("/d1")?.changed, "all");
  });

  it("without inotify (an old addon) nothing is watched", () => {
    assert.equal(createDirWatcher(undefined).changes("/a"), undefined);
  });

  it("a failed read loses events: every directory is all afterwards", () => {
    const f = fakeOps();
    let fail = false;
    const ops: InotifyOps = {
      ...f.ops,
      read: (fd, buf) => {
        if (fail) throw Object.assign(new Error("EIO"), { code: "EIO" });
        return f.ops.read(fd, buf);
      },
    };
    const w = createDirWatcher(ops);
    w.changes("/a");
    w.changes("/b");
    fail = true;
    assert.equal(w.changes("/a"), undefined);
    fail = false;
    assert.equal(w.changes("/a")?.changed, "all");
    assert.equal(w.changes("/b")?.changed, "all");
  });
});
