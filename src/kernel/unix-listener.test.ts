// The safe unix listener as this user can test it (no second user needed; those tests, and the
// ones with root-owned and foreign-owned directories, are in test/e2e/socket-security.test.ts).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  checkSocketDir,
  clientGone,
  groupCanSearch,
  inspectSocketPath,
  listenUnix,
  peerAllowed,
  resolveGroup,
  SocketPathError,
  trustedUids,
  type UnixListener,
  unsafeDirReason,
} from "./unix-listener.js";

const dirStat = (mode: number, uid = 0, gid = 0) => ({ mode: 0o040000 | mode, uid, gid, isDirectory: () => true });

describe("socket directory rules (pure)", () => {
  it("the socket's own directory: owned by root, not writable by group or others, sticky or not", () => {
    assert.equal(unsafeDirReason(dirStat(0o700), true, [0]), undefined);
    assert.equal(unsafeDirReason(dirStat(0o755), true, [0]), undefined);
    assert.match(
      unsafeDirReason(dirStat(0o700, 1001), true, [0])!,
      /is not owned by root \(owner uid 1001, mode 0700\)/,
    );
    assert.match(unsafeDirReason(dirStat(0o775), true, [0])!, /is writable by group \(owner uid 0, mode 0775\)/);
    assert.match(unsafeDirReason(dirStat(0o1777), true, [0])!, /is writable by group and others/);
    assert.match(unsafeDirReason({ ...dirStat(0o600), isDirectory: () => false }, true, [0])!, /is not a directory/);
  });
  it("a parent may be world-writable only when sticky (/tmp)", () => {
    assert.equal(unsafeDirReason(dirStat(0o1777), false, [0]), undefined);
    assert.match(unsafeDirReason(dirStat(0o777), false, [0])!, /writable by group and others and not sticky/);
    assert.match(unsafeDirReason(dirStat(0o1777, 1001), false, [0])!, /not owned by root/);
  });
  it("peers: root and the daemon's own user; a socket group by primary or supplementary gid", () => {
    const p = (uid: number, gid: number, groups: number[] = []) => ({ pid: 1, uid, gid, groups });
    assert.equal(peerAllowed(p(0, 0), { uids: [0] }), true);
    assert.equal(peerAllowed(p(1001, 1001), { uids: [0] }), false);
    assert.equal(peerAllowed(p(1001, 1001, [1001, 5000]), { uids: [0] }), false);
    assert.equal(peerAllowed(p(1001, 5000), { uids: [0], gid: 5000 }), true);
    assert.equal(peerAllowed(p(1001, 1001, [1001, 5000]), { uids: [0], gid: 5000 }), true);
    assert.equal(peerAllowed(p(1001, 1001, [1001]), { uids: [0], gid: 5000 }), false);
  });
  it("group reachability of a directory", () => {
    assert.equal(groupCanSearch(dirStat(0o755), 5000), true);
    assert.equal(groupCanSearch(dirStat(0o750, 0, 5000), 5000), true);
    assert.equal(groupCanSearch(dirStat(0o750, 0, 0), 5000), false);
    assert.equal(groupCanSearch(dirStat(0o700, 0, 5000), 5000), false);
  });
  it("--socket-group: a GID or a name from /etc/group", () => {
    const groups = () => "root:x:0:\npodnet:x:4242:alice,bob\n";
    assert.deepEqual(resolveGroup("podnet", groups), { name: "podnet", gid: 4242 });
    assert.deepEqual(resolveGroup("5000", groups), { name: "5000", gid: 5000 });
    assert.throws(() => resolveGroup("nope", groups), /no group "nope" in \/etc\/group/);
    assert.throws(() => resolveGroup("a:b", groups), /is not a group name/);
  });
});

describe("listenUnix", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "podnet-t-listen-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const sub = (name: string) => {
    const p = join(dir, name);
    mkdirSync(p, { mode: 0o700 });
    return p;
  };

  it("under umask 000 the socket is still 0600 and a missing directory is made 0700", async () => {
    const old = process.umask(0);
    let l: UnixListener;
    try {
      l = await listenUnix(join(dir, "made", "deeper", "s.sock"), (c) => c.end());
    } finally {
      process.umask(old);
    }
    try {
      assert.equal(lstatSync(l.path).mode & 0o7777, 0o600);
      assert.equal(statSync(join(dir, "made", "deeper")).mode & 0o7777, 0o700);
      assert.equal(statSync(join(dir, "made")).mode & 0o7777, 0o755);
      assert.ok(lstatSync(l.path).isSocket());
      assert.deepEqual(readdirSync(join(dir, "made", "deeper")), ["s.sock"], "the private bind directory is gone");
    } finally {
      await l.close();
    }
    assert.equal(existsSync(join(dir, "made", "deeper", "s.sock")), false, "close() removes the socket");
  });

  it("hands over allowed connections with the peer's credentials", async () => {
    const l = await listenUnix(join(sub("peer"), "s.sock"), (c, peer) => c.end(JSON.stringify(peer)));
    try {
      const got = await new Promise<string>((resolve, reject) => {
        const s = connect(l.path);
        let t = "";
        s.on("data", (b: Buffer) => (t += b.toString()));
        s.on("end", () => resolve(t));
        s.on("error", reject);
      });
      const peer = JSON.parse(got);
      assert.equal(peer.pid, process.pid);
      assert.equal(peer.uid, process.geteuid!());
      assert.ok(Array.isArray(peer.groups));
    } finally {
      await l.close();
    }
  });

  it("refuses a group- or other-writable socket directory, naming it, and leaves it alone", async () => {
    const d = sub("open");
    chmodSync(d, 0o777);
    await assert.rejects(
      listenUnix(join(d, "s.sock"), () => {}),
      (e: SocketPathError) =>
        e instanceof SocketPathError &&
        e.message.includes(`socket directory ${d} is writable by group and others`) &&
        /mode 0777/.test(e.message),
    );
    assert.equal(statSync(d).mode & 0o777, 0o777);
    assert.deepEqual(readdirSync(d), []);
  });

  it("refuses a directory inside a parent that others may write (and is not sticky)", async () => {
    const parent = sub("parent");
    const d = join(parent, "inner");
    mkdirSync(d, { mode: 0o700 });
    chmodSync(parent, 0o777);
    assert.throws(
      () => checkSocketDir(d),
      new RegExp(
        `refusing ${parent}, a parent of the socket directory ${d}, is writable by group and others and not sticky`,
      ),
    );
  });

  it("never deletes what is not a stale socket: a regular file, a directory, a symlink", async () => {
    const d = sub("files");
    writeFileSync(join(d, "file.sock"), "precious");
    mkdirSync(join(d, "dir.sock"));
    await assert.rejects(
      listenUnix(join(d, "file.sock"), () => {}),
      new RegExp(`${d}/file.sock is a regular file, not a stale socket; refusing to replace it`),
    );
    await assert.rejects(
      listenUnix(join(d, "dir.sock"), () => {}),
      /is a directory, not a stale socket/,
    );
    assert.equal(readFileSync(join(d, "file.sock"), "utf8"), "precious");
    assert.ok(statSync(join(d, "dir.sock")).isDirectory());
  });

  it("a second listener refuses a live socket and names who holds it; the first keeps serving", async () => {
    const path = join(sub("live"), "s.sock");
    const first = await listenUnix(path, (c) => c.end("first"));
    try {
      await assert.rejects(
        listenUnix(path, () => {}),
        new RegExp(`${path} is in use: another daemon \\(pid ${process.pid}, uid \\d+\\) is serving on it`),
      );
      const occ = await inspectSocketPath(path);
      assert.equal(occ.kind, "live");
    } finally {
      await first.close();
    }
  });

  it("replaces a stale socket (nobody answers on it)", async () => {
    const path = join(sub("stale"), "s.sock");
    // A process that binds and exits without closing leaves its socket file behind.
    const r = spawnSync(process.execPath, [
      "-e",
      `require("net").createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`,
    ]);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal((await inspectSocketPath(path)).kind, "stale");
    const l = await listenUnix(path, (c) => c.end());
    await l.close();
  });

  it("close() removes only its own socket, not one that replaced it", async () => {
    const d = sub("own");
    const l = await listenUnix(join(d, "s.sock"), () => {});
    renameSync(join(d, "s.sock"), join(d, "moved.sock"));
    writeFileSync(join(d, "s.sock"), "someone else's");
    await l.close();
    assert.equal(readFileSync(join(d, "s.sock"), "utf8"), "someone else's");
  });

  it("clientGone: true once the peer has closed, false while it is only half-closed", async () => {
    let accept!: (c: Socket) => void;
    const conn = new Promise<Socket>((r) => (accept = r));
    const l = await listenUnix(join(sub("gone"), "s.sock"), (c) => accept(c), { allowHalfOpen: true });
    const sleep = () => new Promise((r) => setTimeout(r, 20));
    try {
      const s = connect({ path: l.path, allowHalfOpen: true });
      await new Promise((r) => s.once("connect", r));
      s.end(); // half-closed: still there, waiting for an answer
      const c = await conn;
      await sleep();
      assert.equal(clientGone(c), false);
      s.destroy();
      await sleep();
      assert.equal(clientGone(c), true);
    } finally {
      await l.close();
    }
  });

  it("trusts root and its own user only", () => {
    const me = process.geteuid!();
    assert.deepEqual(trustedUids(), me === 0 ? [0] : [0, me]);
  });
});
