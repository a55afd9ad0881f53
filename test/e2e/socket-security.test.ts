// Who can reach the root daemons' sockets (`podnet resident`, `podnet node`): an unprivileged user
// (a temporary podnet-t-* account) tries, as an attacker on the same node would. See docs/security.md.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeRawExec } from "../../src/kernel/exec.js";
import { startDaemon } from "../../src/netmgr/testing/daemon.js";
import { REPO, withSandbox } from "./sandbox.js";
import {
  addGroup,
  addUser,
  asUserArgv,
  launcherRequest,
  probeAs,
  removeGroup,
  removeUser,
  startPodnet,
  type TestGroup,
  type TestUser,
} from "./users.js";

const RESIDENT = join(REPO, "build", "resident");
const HTTP_GET = "GET /v1/node HTTP/1.1\r\nHost: podnet\r\nConnection: close\r\n\r\n";

let attacker: TestUser | undefined;
let member: TestUser | undefined;
let group: TestGroup | undefined;
let root = "";

before(() => {
  root = mkdtempSync(join(tmpdir(), "podnet-t-sock-"));
  chmodSync(root, 0o755); // root-owned, not writable by others: the users may look inside
  group = addGroup();
  attacker = addUser();
  member = addUser([group.name]);
});
after(() => {
  removeUser(attacker);
  removeUser(member);
  removeGroup(group);
  rmSync(root, { recursive: true, force: true });
});

/** A fresh root-owned 0755 directory under the test's root. */
function place(name: string): string {
  const d = join(root, name);
  mkdirSync(d, { mode: 0o755 });
  chmodSync(d, 0o755);
  return d;
}

describe("podnet resident's socket", () => {
  it("started under umask 000: root-only from the start, and a peer that is not root is refused even on a widened socket", async () => {
    const base = place("umask");
    const sock = join(base, "run", "cni.sock");
    const d = await startPodnet(["resident", "--socket", sock], { umask: "000", readyPath: sock });
    try {
      assert.ok(existsSync(sock), d.log());
      const st = lstatSync(sock);
      assert.equal(st.mode & 0o7777, 0o600, "socket mode");
      assert.equal(st.uid, 0);
      assert.equal(statSync(join(base, "run")).mode & 0o7777, 0o700, "socket directory made 0700");
      assert.deepEqual(probeAs(attacker!, sock, launcherRequest("loopback")), { event: "refused", code: "EACCES" });
      // An operator widens the modes by mistake: SO_PEERCRED still keeps the attacker out.
      chmodSync(join(base, "run"), 0o755);
      chmodSync(sock, 0o666);
      // Whatever they send: not a byte is read (PNC1 is what the daemon of 2bb07a6 ran for anyone).
      assert.deepEqual(probeAs(attacker!, sock, launcherRequest("loopback")), { event: "closed" });
      assert.deepEqual(probeAs(attacker!, sock, launcherRequest("loopback", { CNI_COMMAND: "VERSION" }, "", "PNC1")), {
        event: "closed",
      });
      // ... while root is answered as ever
      const r = await nodeRawExec.run(join(RESIDENT, "loopback"), [], {
        env: { PATH: process.env["PATH"], PODNET_CNI_SOCKET: sock, CNI_COMMAND: "VERSION" },
        timeoutMs: 10_000,
      });
      assert.equal(r.code, 0, r.stderr.toString());
      assert.ok(JSON.parse(r.stdout.toString()).supportedVersions);
    } finally {
      await d.stop();
    }
    assert.match(
      d.log(),
      new RegExp(`refused a connection on ${sock} from uid ${attacker!.uid} gid ${attacker!.gid} pid \\d+: not root`),
    );
    assert.match(
      d.log(),
      /stopped after 1 calls \(0 errors; 0 skipped, their launcher gone; 0 malformed; 2 connections refused\)/,
    );
  });

  it("--socket-group: members may connect (root:GROUP 0660 in a root:GROUP 0750 directory), others may not", async () => {
    const base = place("group");
    const sock = join(base, "run", "cni.sock");
    const d = await startPodnet(["resident", "--socket", sock, "--socket-group", group!.name], {
      umask: "077",
      readyPath: sock,
    });
    try {
      assert.ok(existsSync(sock), d.log());
      const st = lstatSync(sock);
      assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o660, 0, group!.gid], "socket mode and owner");
      const dir = statSync(join(base, "run"));
      assert.deepEqual([dir.mode & 0o7777, dir.uid, dir.gid], [0o750, 0, group!.gid], "directory mode and owner");
      const ok = probeAs(member!, sock, launcherRequest("loopback"));
      assert.equal(ok.event, "answer", JSON.stringify(ok));
      assert.match(ok.text!, /"supportedVersions"/);
      assert.deepEqual(probeAs(attacker!, sock, launcherRequest("loopback")), { event: "refused", code: "EACCES" });
    } finally {
      await d.stop();
    }
  });

  it("refuses a socket directory owned by another user, or inside one, naming it", async () => {
    const owned = place("owned");
    chownSync(owned, attacker!.uid, attacker!.gid);
    const d1 = await startPodnet(["resident", "--socket", join(owned, "cni.sock")]);
    const r1 = await d1.exited();
    assert.equal(r1.code, 1, r1.log);
    assert.match(
      r1.log,
      new RegExp(`refusing socket directory ${owned} is not owned by root \\(owner uid ${attacker!.uid}, mode 0755\\)`),
    );
    assert.equal(existsSync(join(owned, "cni.sock")), false);

    const parent = place("userparent");
    mkdirSync(join(parent, "rootdir"), { mode: 0o700 });
    chownSync(parent, attacker!.uid, attacker!.gid); // the user could rename rootdir away and put their own in its place
    const d2 = await startPodnet(["resident", "--socket", join(parent, "rootdir", "cni.sock")]);
    const r2 = await d2.exited();
    assert.equal(r2.code, 1, r2.log);
    assert.match(
      r2.log,
      new RegExp(`refusing ${parent}, a parent of the socket directory ${parent}/rootdir, is not owned by root`),
    );
  });

  it("a second daemon refuses a live daemon's socket and names it; the first keeps serving", async () => {
    const sock = join(place("live"), "cni.sock");
    const first = await startPodnet(["resident", "--socket", sock], { readyPath: sock });
    try {
      const second = await startPodnet(["resident", "--socket", sock]);
      const r = await second.exited();
      assert.equal(r.code, 1, r.log);
      assert.match(
        r.log,
        new RegExp(`${sock} is in use: another daemon \\(pid ${first.child.pid}, uid 0\\) is serving on it`),
      );
      const call = await nodeRawExec.run(join(RESIDENT, "loopback"), [], {
        env: { PATH: process.env["PATH"], PODNET_CNI_SOCKET: sock, CNI_COMMAND: "VERSION" },
        timeoutMs: 10_000,
      });
      assert.equal(call.code, 0);
    } finally {
      await first.stop();
    }
    assert.match(first.log(), /stopped after 1 calls/, "the call went to the first daemon");
  });

  it("--socket naming a regular file: refused, and the file is left as it was", async () => {
    const file = join(place("file"), "precious");
    writeFileSync(file, "keep me\n");
    const d = await startPodnet(["resident", "--socket", file]);
    const r = await d.exited();
    assert.equal(r.code, 1, r.log);
    assert.match(r.log, new RegExp(`${file} is a regular file, not a stale socket; refusing to replace it`));
    assert.equal(readFileSync(file, "utf8"), "keep me\n");
  });
});

describe("the launcher trusts only a root daemon", () => {
  /** A forged daemon run by the attacker on `sock`: answers success and reports what it received. */
  async function forgedDaemon(sock: string) {
    const script = `
      const fs = require("fs");
      const net = require("net");
      const got = [];
      const s = net.createServer({ allowHalfOpen: true }, (c) => {
        const bytes = [];
        c.on("data", (d) => bytes.push(d));
        c.on("end", () => {
          fs.appendFileSync(process.argv[2], "connection with " + Buffer.concat(bytes).length + " bytes\\n");
          const out = Buffer.from('{"cniVersion":"1.0.0","forged":true}');
          const h = Buffer.alloc(8); h.writeUInt32LE(0, 0); h.writeUInt32LE(out.length, 4);
          c.end(Buffer.concat([h, out, Buffer.alloc(4)]));
        });
      });
      s.listen(process.argv[1], () => fs.appendFileSync(process.argv[2], "listening\\n"));`;
    const report = join(sock, "..", "report");
    writeFileSync(report, "");
    chownSync(report, attacker!.uid, attacker!.gid);
    const argv = asUserArgv(attacker!, [process.execPath, "-e", script, sock, report]);
    const { spawn } = await import("node:child_process");
    const child = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
    for (let i = 0; i < 200 && !readFileSync(report, "utf8").includes("listening"); i++)
      await new Promise((r) => setTimeout(r, 25));
    return { child, report: () => readFileSync(report, "utf8") };
  }

  it("a socket owned by another user, or served by one, is refused with a note on stderr; the Node plugin runs instead", async () => {
    const dir = place("forged");
    chownSync(dir, attacker!.uid, attacker!.gid);
    const sock = join(dir, "cni.sock");
    const f = await forgedDaemon(sock);
    try {
      const conf = JSON.stringify({
        cniVersion: "1.0.0",
        name: "n",
        anotherAwesomeArg: "x",
        prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.200.0.2/24" }] },
      });
      const env = {
        PATH: process.env["PATH"],
        PODNET_CNI_SOCKET: sock,
        CNI_COMMAND: "ADD",
        CNI_CONTAINERID: "c1",
        CNI_NETNS: "/run/netns/x",
        CNI_IFNAME: "eth0",
        CNI_PATH: "/opt/cni/bin",
      };
      const run = () => nodeRawExec.run(join(RESIDENT, "sample"), [], { env, stdin: conf, timeoutMs: 10_000 });

      const r1 = await run();
      assert.equal(r1.code, 0, r1.stderr.toString());
      assert.deepEqual(
        JSON.parse(r1.stdout.toString()),
        { cniVersion: "1.0.0", ips: [{ address: "10.200.0.2/24" }], dns: {} },
        "the Node plugin's result, not the forged one",
      );
      assert.match(
        r1.stderr.toString(),
        new RegExp(
          `podnet launcher: refusing ${sock}: owned by uid ${attacker!.uid}, not uid 0; running the Node plugin instead`,
        ),
      );

      // Even a root-owned socket file is refused when the process listening on it is not root.
      chownSync(sock, 0, 0);
      const r2 = await run();
      assert.equal(r2.code, 0, r2.stderr.toString());
      assert.equal(JSON.parse(r2.stdout.toString()).forged, undefined);
      assert.match(
        r2.stderr.toString(),
        new RegExp(
          `refusing the daemon on ${sock}: it runs as uid ${attacker!.uid} \\(pid \\d+\\), not uid 0; running the Node plugin instead`,
        ),
      );
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(
        f.report(),
        "listening\nconnection with 0 bytes\n",
        "the forged daemon never got a byte of the environment or stdin",
      );
    } finally {
      f.child.kill("SIGKILL");
    }
  });
});

describe("podnet node's sockets", () => {
  it("the API answers 403 to a peer that is not root, even on a widened socket", () =>
    withSandbox(async (sb) => {
      chmodSync(sb.dir, 0o755);
      const d = await startDaemon({ netns: sb.node, dir: join(sb.dir, "node"), args: ["--network-plugin=noop"] });
      try {
        assert.equal(lstatSync(d.socket).mode & 0o7777, 0o600);
        assert.deepEqual(probeAs(attacker!, d.socket, HTTP_GET), { event: "refused", code: "EACCES" });
        chmodSync(d.socket, 0o666); // an operator's mistake
        const denied = probeAs(attacker!, d.socket, HTTP_GET);
        assert.match(denied.text ?? "", /^HTTP\/1\.1 403 Forbidden/, JSON.stringify(denied));
        assert.match(denied.text ?? "", /"error":"forbidden/);
      } finally {
        assert.equal(await d.stop(), 0, d.log());
      }
      const refused = d
        .log()
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l["msg"] === "refused a connection");
      const who = new RegExp(`^uid ${attacker!.uid} gid ${attacker!.gid} pid \\d+$`);
      assert.ok(
        refused.some((l) => who.test(String(l["peer"]))),
        d.log(),
      );
    }));

  it("--socket-group: members reach the API and the CNI socket, others do not", () =>
    withSandbox(async (sb) => {
      chmodSync(sb.dir, 0o755);
      const cniSock = join(sb.dir, "cni", "cni.sock");
      const d = await startDaemon({
        netns: sb.node,
        dir: join(sb.dir, "node"),
        args: ["--network-plugin=noop", `--socket-group=${group!.name}`, `--cni-socket=${cniSock}`],
      });
      try {
        const st = lstatSync(d.socket);
        assert.deepEqual([st.mode & 0o7777, st.gid], [0o660, group!.gid]);
        const ok = probeAs(member!, d.socket, HTTP_GET);
        assert.match(ok.text ?? "", /^HTTP\/1\.1 200 OK/, JSON.stringify(ok));
        const cni = probeAs(member!, cniSock, launcherRequest("loopback"));
        assert.equal(cni.event, "answer", JSON.stringify(cni));
        assert.deepEqual(probeAs(attacker!, d.socket, HTTP_GET), { event: "refused", code: "EACCES" });
        assert.deepEqual(probeAs(attacker!, cniSock, launcherRequest("loopback")), {
          event: "refused",
          code: "EACCES",
        });
      } finally {
        assert.equal(await d.stop(), 0, d.log());
      }
    }));

  it("refuses a socket directory owned by another user, and a regular file at --socket, leaving both alone", () =>
    withSandbox(async (sb) => {
      const owned = join(sb.dir, "owned");
      mkdirSync(owned, { mode: 0o755 });
      chownSync(owned, attacker!.uid, attacker!.gid);
      const file = join(sb.dir, "file.sock");
      writeFileSync(file, "keep me\n");
      for (const [sock, want] of [
        [join(owned, "podnet.sock"), `refusing socket directory ${owned} is not owned by root`],
        [file, `${file} is a regular file, not a stale socket; refusing to replace it`],
      ] as const) {
        // --pod-cidr: a start that got as far as the pod CIDR would have saved it in the state dir
        const args = [
          "node",
          "--network-plugin=noop",
          "--modprobe=false",
          "--pod-cidr=10.200.0.0/24",
          `--socket=${sock}`,
          `--state-dir=${join(sb.dir, "state")}`,
          `--cni-cache-dir=${join(sb.dir, "cache")}`,
        ];
        const d = await startPodnet(args, { netns: sb.node });
        const r = await d.exited();
        assert.equal(r.code, 1, r.log);
        assert.ok(r.log.includes(want), r.log);
      }
      assert.equal(readFileSync(file, "utf8"), "keep me\n");
      assert.equal(spawnSync("ls", ["-A", owned], { encoding: "utf8" }).stdout, "");
      assert.equal(existsSync(join(sb.dir, "state")), false, "refused before restoring or writing any state");
    }));
});
