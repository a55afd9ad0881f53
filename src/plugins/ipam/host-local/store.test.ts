import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { formatIP, parseIP } from "../../../ip/index.js";
import { inProcessLock } from "./lock.js";
import { parseReservation } from "./reservation.js";
import { Store, type StoreFs } from "./store.js";
import { syncFs } from "./sync-fs.js";
import { withTempDir } from "./testing.js";

const open = (dataDir: string, fsImpl: StoreFs = fs) => Store.open(fsImpl, inProcessLock(), dataDir, "net1");
const mode = async (p: string) => (await fs.stat(p)).mode & 0o777;

describe("store: on-disk format (byte-identical to Go's host-local)", () => {
  it("writes <ip> = id CRLF ifname, no newline, and last_reserved_ip.N", () =>
    withTempDir(async (d) => {
      const s = await open(d);
      assert.equal(s.dir, join(d, "net1"));
      assert.equal(await mode(s.dir), 0o755 & ~process.umask());
      assert.equal(await s.reserve(" c1 ", "eth0", parseIP("10.1.0.5"), "0"), true);
      assert.equal(await s.reserve("c1", "eth1", parseIP("2001:0db8::0005"), "1"), true);
      assert.deepEqual(await fs.readFile(join(s.dir, "10.1.0.5")), Buffer.from("c1\r\neth0"));
      assert.deepEqual(await fs.readFile(join(s.dir, "2001:db8::5")), Buffer.from("c1\r\neth1"));
      assert.deepEqual(await fs.readFile(join(s.dir, "last_reserved_ip.0")), Buffer.from("10.1.0.5"));
      assert.deepEqual(await fs.readFile(join(s.dir, "last_reserved_ip.1")), Buffer.from("2001:db8::5"));
      assert.equal(await mode(join(s.dir, "10.1.0.5")), 0o644 & ~process.umask());
      // nothing else is left behind (no temporary files)
      assert.deepEqual((await fs.readdir(s.dir)).sort(), [
        "10.1.0.5",
        "2001:db8::5",
        "last_reserved_ip.0",
        "last_reserved_ip.1",
      ]);
    }));

  it("an existing file means reserved; the content is not touched", () =>
    withTempDir(async (d) => {
      const s = await open(d);
      await fs.writeFile(join(s.dir, "10.1.0.5"), "other\r\neth0");
      assert.equal(await s.reserve("c1", "eth0", parseIP("10.1.0.5"), "0"), false);
      assert.equal(await fs.readFile(join(s.dir, "10.1.0.5"), "utf8"), "other\r\neth0");
      assert.equal(await s.lastReservedIP("0"), undefined);
    }));

  it("falls back to O_EXCL create when the file system has no hard links", () =>
    withTempDir(async (d) => {
      const noLinks: StoreFs = {
        ...fs,
        link: async () => Promise.reject(Object.assign(new Error("EPERM"), { code: "EPERM" })),
      };
      const s = await open(d, noLinks);
      assert.equal(await s.reserve("c1", "eth0", parseIP("10.1.0.5"), "0"), true);
      assert.equal(await s.reserve("c2", "eth0", parseIP("10.1.0.5"), "0"), false);
      assert.equal(await fs.readFile(join(s.dir, "10.1.0.5"), "utf8"), "c1\r\neth0");
      assert.deepEqual((await fs.readdir(s.dir)).sort(), ["10.1.0.5", "last_reserved_ip.0"]);
    }));

  it("undoes the reservation when last_reserved_ip cannot be written", () =>
    withTempDir(async (d) => {
      const failLast: StoreFs = {
        ...fs,
        writeFile: async (p, data, o) =>
          p.endsWith("/last_reserved_ip.0")
            ? Promise.reject(Object.assign(new Error("EIO"), { code: "EIO" }))
            : fs.writeFile(p, data, o),
      };
      const s = await open(d, failLast);
      await assert.rejects(s.reserve("c1", "eth0", parseIP("10.1.0.5"), "0"), /EIO/);
      assert.deepEqual(await fs.readdir(s.dir), []);
    }));

  it("reads last_reserved_ip as Go does (no trimming)", () =>
    withTempDir(async (d) => {
      const s = await open(d);
      await fs.writeFile(join(s.dir, "last_reserved_ip.0"), "10.1.0.9");
      await fs.writeFile(join(s.dir, "last_reserved_ip.1"), "10.1.0.9\n");
      await fs.writeFile(join(s.dir, "last_reserved_ip.2"), "::ffff:10.1.0.9");
      assert.equal(formatIP((await s.lastReservedIP("0"))!), "10.1.0.9");
      assert.equal(await s.lastReservedIP("1"), undefined);
      assert.equal(formatIP((await s.lastReservedIP("2"))!), "10.1.0.9");
      assert.equal(await s.lastReservedIP("3"), undefined);
    }));
});

describe("store: lookups and release by owner", () => {
  const seed = async (dir: string, files: Record<string, string>) => {
    for (const [name, content] of Object.entries(files)) await fs.writeFile(join(dir, name), content);
  };

  it("releaseByID removes id+ifname files; legacy id-only files only when none match", () =>
    withTempDir(async (d) => {
      const s = await open(d);
      await seed(s.dir, {
        "10.1.0.2": "c1\r\neth0",
        "10.1.0.3": "c1\r\neth1",
        "10.1.0.4": "c1",
        "fd00::2": "c1\r\neth0\n",
        "10.1.0.5": "c2\r\neth0",
        last_reserved_ip: "c1\r\neth0", // any file with that content, as Go's walk
      });
      assert.deepEqual((await s.releaseByID("c1", "eth0")).sort(), ["10.1.0.2", "fd00::2", "last_reserved_ip"]);
      assert.deepEqual((await fs.readdir(s.dir)).sort(), ["10.1.0.3", "10.1.0.4", "10.1.0.5"]);
      // no id+ifname match left for eth0: the legacy file goes
      assert.deepEqual(await s.releaseByID("c1", "eth0"), ["10.1.0.4"]);
      assert.deepEqual(await s.releaseByID("c1", "eth0"), []);
      assert.deepEqual((await fs.readdir(s.dir)).sort(), ["10.1.0.3", "10.1.0.5"]);
    }));

  it("releaseByID walks subdirectories, as Go's filepath.Walk", () =>
    withTempDir(async (d) => {
      const s = await open(d);
      await fs.mkdir(join(s.dir, "sub"));
      await seed(s.dir, { "sub/x": "c1\r\neth0" });
      assert.deepEqual(await s.releaseByID("c1", "eth0"), [join("sub", "x")]);
    }));

  it("getByID, findByID and list", () =>
    withTempDir(async (d) => {
      const s = await open(d);
      await seed(s.dir, {
        "10.1.0.2": "c1\r\neth0",
        "10.1.0.4": "c1",
        "fd00::2": "c2\r\neth0",
        "not-an-ip": "c1\r\neth0",
        lock: "",
      });
      assert.deepEqual((await s.getByID("c1", "eth0")).map(formatIP).sort(), ["10.1.0.2", "10.1.0.4"]);
      assert.ok(await s.findByID("c2", "eth0"));
      assert.ok(await s.findByID("c1", "eth9")); // legacy id-only file matches any ifname
      assert.ok(!(await s.findByID("c3", "eth0")));
      const all = (await s.list()).map((r) => `${r.name}=${r.containerID}/${r.ifname ?? "-"}`).sort();
      assert.deepEqual(all, ["10.1.0.2=c1/eth0", "10.1.0.4=c1/-", "fd00::2=c2/eth0"]);
    }));

  it("releaseIP removes only a file the owner still holds", () =>
    withTempDir(async (d) => {
      const s = await open(d);
      await seed(s.dir, { "10.1.0.2": "c1\r\neth0", "10.1.0.3": "c2\r\neth0" });
      assert.equal(await s.releaseIP(parseIP("10.1.0.3"), "c1", "eth0"), false);
      assert.equal(await s.releaseIP(parseIP("10.1.0.2"), "c1", "eth0"), true);
      assert.deepEqual(await fs.readdir(s.dir), ["10.1.0.3"]);
    }));

  it("parseReservation", () => {
    assert.deepEqual(parseReservation("c1\r\neth0"), { containerID: "c1", ifname: "eth0" });
    assert.deepEqual(parseReservation(" c1 \n"), { containerID: "c1", ifname: undefined });
    assert.deepEqual(parseReservation(""), { containerID: "", ifname: undefined });
  });
});

describe("store over the synchronous fs of the executable (sync-fs.ts)", () => {
  it("same files, same exclusivity, same release", () =>
    withTempDir(async (d) => {
      const s = await Store.open(syncFs, inProcessLock(), d, "net1");
      assert.equal(await s.reserve("c1", "eth0", parseIP("fd00::5"), "0"), true);
      assert.equal(await s.reserve("c2", "eth0", parseIP("fd00::5"), "0"), false);
      assert.deepEqual(await fs.readFile(join(s.dir, "fd00::5")), Buffer.from("c1\r\neth0"));
      assert.deepEqual(
        (await s.list()).map((r) => `${r.name}=${r.containerID}/${r.ifname}`),
        ["fd00::5=c1/eth0"],
      );
      assert.deepEqual(await s.releaseByID("c1", "eth0"), ["fd00::5"]);
      assert.deepEqual(await fs.readdir(s.dir), ["last_reserved_ip.0"]);
      await assert.rejects(Store.open(syncFs, inProcessLock(), join(d, "net1", "last_reserved_ip.0"), "x"), /ENOTDIR/);
    }));
});

describe("inProcessLock", () => {
  it("serialises holders of one path and leaves other paths alone", async () => {
    const lock = inProcessLock();
    const order: string[] = [];
    const a = await lock("/p");
    const b = lock("/p").then((l) => {
      order.push("b");
      return l;
    });
    const other = await lock("/q");
    order.push("q");
    await new Promise((r) => setImmediate(r));
    order.push("a-release");
    await a.release();
    (await b).release();
    await other.release();
    assert.deepEqual(order, ["q", "a-release", "b"]);
  });
});

describe("store: synchronous scan (resident daemon)", () => {
  it("reads every reservation with readFileSync, yielding to the event loop between chunks", () =>
    withTempDir(async (d) => {
      const { residentStoreFs } = await import("../../../resident/registry.js");
      const { SYNC_SCAN_CHUNK } = await import("./store.js");
      const n = SYNC_SCAN_CHUNK * 3 + 5;
      const s = await open(d, residentStoreFs);
      for (let i = 1; i <= n; i++) await fs.writeFile(join(s.dir, `10.1.${i >> 8}.${i & 255}`), `c${i}\r\neth0`);
      // A ticker re-arming itself with setImmediate: it can only advance when the scan yields.
      let ticks = 0;
      let running = true;
      const tick = () => {
        ticks++;
        if (running) setImmediate(tick);
      };
      const seen: number[] = [];
      const counting: StoreFs = {
        ...residentStoreFs,
        readFileSync: (p, e) => {
          seen.push(ticks);
          return residentStoreFs.readFileSync!(p, e);
        },
      };
      const store = await open(d, counting);
      setImmediate(tick);
      try {
        const list = await store.list();
        assert.equal(list.length, n);
        assert.equal(seen.length, n, "one synchronous read per reservation");
        assert.deepEqual(ownersOf(list, 7), [{ containerID: "c7", ifname: "eth0" }]);
        // Within a chunk the ticker cannot run; between chunks it does.
        for (let i = 1; i < n; i++) {
          if (i % SYNC_SCAN_CHUNK === 0) assert.ok(seen[i]! > seen[i - 1]!, `yielded before read ${i}`);
          else assert.equal(seen[i], seen[i - 1], `no yield before read ${i}`);
        }
      } finally {
        running = false;
      }
    }));
});

const ownersOf = (list: ReadonlyArray<{ name: string; containerID: string; ifname: string | undefined }>, i: number) =>
  list.filter((r) => r.name === `10.1.0.${i}`).map((r) => ({ containerID: r.containerID, ifname: r.ifname }));
