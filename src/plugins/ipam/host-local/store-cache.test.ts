// host-local's store kept in memory (StoreCache + the inotify directory watcher): an operation
// reads only what changed since the previous one, and what it sees is always the disk's — also
// after another writer (Go's host-local, which takes the same lock) created, removed or replaced
// reservations in between. Real files in a temp dir; needs the addon (inotify), not root.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { addonInotifyOps, createDirWatcher, type DirWatcher } from "../../../kernel/dir-watch.js";
import { parseIP } from "../../../ip/index.js";
import { hostLocalAdd, hostLocalDel, type HostLocalDeps } from "./host-local.js";
import { inProcessLock } from "./lock.js";
import { Store, type StoreFs } from "./store.js";
import { MAX_FILE_CHARS, StoreCache } from "./store-cache.js";
import { asyncFs, netConf, withTempDir } from "./testing.js";

/** A temp dir and a directory watcher for the test, closed and removed afterwards. */
const withWatchedDir = (fn: (d: string, w: ReturnType<typeof createDirWatcher>) => Promise<void>) =>
  withTempDir(async (d) => {
    const w = createDirWatcher();
    try {
      await fn(d, w);
    } finally {
      w.close();
    }
  });

interface Counted {
  fs: StoreFs;
  reads: () => number;
}

/** fs/promises plus the synchronous reader, counting file reads. */
function countingFs(watcher: DirWatcher | undefined): Counted {
  let n = 0;
  const base: StoreFs = {
    ...fs,
    readFile: (p: string, e: "utf8") => {
      n++;
      return fs.readFile(p, e);
    },
    readFileSync: (p: string, e: "utf8") => {
      n++;
      return readFileSync(p, e);
    },
  };
  return { fs: watcher ? { ...base, changes: (p) => watcher.changes(p) } : base, reads: () => n };
}

const opened = async (d: string, c: Counted, cache: StoreCache | undefined) =>
  Store.open(c.fs, inProcessLock(), d, "net1", cache);

/** What an uncached store reads from the disk now: the reference. */
async function diskTruth(d: string) {
  const s = await Store.open(fs, inProcessLock(), d, "net1");
  const list = (await s.list()).map((r) => `${r.name}=${r.containerID}/${r.ifname ?? "-"}`).sort();
  return { s, list };
}
const listed = async (s: Store) => (await s.list()).map((r) => `${r.name}=${r.containerID}/${r.ifname ?? "-"}`).sort();

/** Go's disk backend writing under the same lock: O_EXCL create + write, last_reserved_ip written in place, os.Remove. */
const goReserve = async (dir: string, ip: string, id: string, ifname = "eth0") => {
  await fs.writeFile(join(dir, ip), `${id}\r\n${ifname}`, { flag: "wx" });
  await fs.writeFile(join(dir, "last_reserved_ip.0"), ip);
};

describe("host-local store cache", {
  skip: addonInotifyOps() ? false : "the addon has no inotify (rebuild it: npm run install)",
}, () => {
  it("reads only the files changed since the previous operation, not every reservation", () =>
    withWatchedDir(async (d, w) => {
      const c = countingFs(w);
      const cache = new StoreCache();
      const s = await opened(d, c, cache);
      for (let i = 2; i < 52; i++) await goReserve(s.dir, `10.1.0.${i}`, `c${i}`);
      assert.equal((await s.list()).length, 50);
      const afterScan = c.reads();
      assert.ok(afterScan >= 50, "the first look reads everything");

      assert.equal(await s.reserve("new", "eth0", parseIP("10.1.0.60"), "0"), true);
      const again = await opened(d, c, cache); // a later call: a new Store, the same cache
      assert.equal((await again.list()).length, 51);
      assert.deepEqual(await again.getByID("new", "eth0"), [parseIP("10.1.0.60")]);
      // the new reservation and last_reserved_ip.0 (the temporary files are gone: no read succeeds)
      assert.ok(c.reads() - afterScan <= 4, `read ${c.reads() - afterScan} files`);

      const before = c.reads();
      assert.equal((await again.list()).length, 51);
      assert.equal(c.reads(), before, "nothing changed: nothing read");
    }));

  it("sees another writer's creations, removals and replacements made between two operations", () =>
    withWatchedDir(async (d, w) => {
      const c = countingFs(w);
      const cache = new StoreCache();
      const s = await opened(d, c, cache);
      for (let i = 2; i < 6; i++) await s.reserve(`c${i}`, "eth0", parseIP(`10.1.0.${i}`), "0");
      assert.equal((await s.list()).length, 4);

      // Go, in between: a new reservation; 10.1.0.2 released and handed to someone else (the
      // same name, content of the same length); 10.1.0.3 released; 10.1.0.4 rewritten in place.
      await goReserve(s.dir, "10.1.0.9", "go1");
      await fs.unlink(join(s.dir, "10.1.0.2"));
      await goReserve(s.dir, "10.1.0.2", "go2");
      await fs.unlink(join(s.dir, "10.1.0.3"));
      await fs.writeFile(join(s.dir, "10.1.0.4"), "c9\r\neth0");

      assert.deepEqual(await listed(s), (await diskTruth(d)).list);
      assert.deepEqual(await s.getByID("go2", "eth0"), [parseIP("10.1.0.2")]);
      assert.equal(await s.findByID("c2", "eth0"), false);
      assert.equal(await s.findByID("c4", "eth0"), false);
      assert.equal(await s.findByID("c9", "eth0"), true);
      assert.deepEqual(await s.releaseByID("go1", "eth0"), ["10.1.0.9"]);
      assert.deepEqual(await listed(s), (await diskTruth(d)).list);
    }));

  it("an ADD refuses a second address for a container Go gave one to since the previous ADD", () =>
    withWatchedDir(async (d, w) => {
      const deps: HostLocalDeps = {
        fs: { ...asyncFs, readFileSync, changes: (p) => w.changes(p) },
        lock: inProcessLock(),
        cache: new StoreCache(),
      };
      const conf = netConf(d, { subnet: "10.1.0.0/24" });
      await hostLocalAdd(conf, { containerID: "a", ifName: "eth0" }, deps);
      await goReserve(join(d, "net1"), "10.1.0.77", "b");
      await assert.rejects(
        hostLocalAdd(conf, { containerID: "b", ifName: "eth0" }, deps),
        /10\.1\.0\.77 has been allocated to b, duplicate allocation is not allowed/,
      );
      await hostLocalDel(conf, { containerID: "b", ifName: "eth0" }, deps);
      assert.deepEqual((await fs.readdir(join(d, "net1"))).filter((n) => n.startsWith("10.")).sort(), ["10.1.0.2"]);
    }));

  it("with a subdirectory, releasing walks the disk as Go does (nested files included)", () =>
    withWatchedDir(async (d, w) => {
      const c = countingFs(w);
      const cache = new StoreCache();
      const s = await opened(d, c, cache);
      await s.reserve("c5", "eth0", parseIP("10.1.0.5"), "0");
      await s.list();
      await fs.mkdir(join(s.dir, "old"));
      await fs.writeFile(join(s.dir, "old", "10.1.0.8"), "c5\r\neth0");
      assert.deepEqual((await s.releaseByID("c5", "eth0")).sort(), ["10.1.0.5", join("old", "10.1.0.8")]);
    }));

  it("a file too long to be a reservation is not kept: its directory is read from the disk until it is gone", () =>
    withWatchedDir(async (d, w) => {
      const c = countingFs(w);
      const s = await opened(d, c, new StoreCache());
      for (let i = 2; i < 6; i++) await goReserve(s.dir, `10.1.0.${i}`, `c${i}`);
      await fs.writeFile(join(s.dir, "10.1.0.9"), "x".repeat(MAX_FILE_CHARS + 1));
      assert.equal((await s.list()).length, 5);
      let before = c.reads();
      assert.equal((await s.list()).length, 5);
      assert.ok(c.reads() - before >= 5, "read from the disk again");
      assert.deepEqual(await listed(s), (await diskTruth(d)).list);
      await fs.unlink(join(s.dir, "10.1.0.9"));
      await s.list(); // everything once more, then kept
      before = c.reads();
      assert.equal((await s.list()).length, 4);
      assert.equal(c.reads(), before);
    }));

  it("where the watcher cannot answer (a remote file system), every operation reads the disk", () =>
    withTempDir(async (d) => {
      const c = countingFs(undefined);
      const noWatch: StoreFs = { ...c.fs, changes: () => undefined };
      const s = await Store.open(noWatch, inProcessLock(), d, "net1", new StoreCache());
      for (let i = 2; i < 12; i++) await goReserve(s.dir, `10.1.0.${i}`, `c${i}`);
      await s.list();
      const before = c.reads();
      assert.equal((await s.list()).length, 10);
      assert.equal(c.reads() - before, 10);
    }));

  it("stays the disk's through a random mix of its own and another writer's operations", () =>
    withWatchedDir(async (d, w) => {
      const c = countingFs(w);
      const cache = new StoreCache();
      let seed = 7;
      const rnd = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      const dir = join(d, "net1");
      for (let step = 0; step < 300; step++) {
        const s = await opened(d, c, cache);
        const ip = `10.1.0.${2 + rnd(12)}`;
        const id = `c${rnd(6)}`;
        switch (rnd(6)) {
          case 0:
            await s.reserve(id, "eth0", parseIP(ip), "0");
            break;
          case 1:
            await s.releaseByID(id, "eth0");
            break;
          case 2:
            await goReserve(dir, ip, id).catch(() => {});
            break;
          case 3:
            await fs.unlink(join(dir, ip)).catch(() => {});
            break;
          case 4: // released and taken again at once, by someone else
            await fs.unlink(join(dir, ip)).catch(() => {});
            await goReserve(dir, ip, `g${rnd(3)}`, rnd(2) ? "eth0" : "eth1");
            break;
          case 5:
            await fs.writeFile(join(dir, ip), id); // a pre-v0.8.0 file: the ID alone
            break;
        }
        assert.deepEqual(await listed(s), (await diskTruth(d)).list, `step ${step}`);
        const probe = `c${rnd(6)}`;
        assert.equal(
          await s.findByID(probe, "eth0"),
          await (await diskTruth(d)).s.findByID(probe, "eth0"),
          `step ${step} findByID ${probe}`,
        );
      }
    }));
});
