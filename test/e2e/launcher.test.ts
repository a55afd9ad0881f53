// The resident-mode launcher (native/launcher.c, built into build/resident) as a black box: against
// `podnet resident`, against fake daemons that answer garbage or nothing, from another cwd.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeRawExec } from "../../src/kernel/exec.js";
import { REPO, sh, withSandbox } from "./sandbox.js";
import { startPodnet } from "./users.js";

const RESIDENT = join(REPO, "build", "resident");
const CNI = join(REPO, "build", "cni");

let dir = "";
before(() => {
  dir = mkdtempSync(join(tmpdir(), "podnet-t-launcher-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const sampleConf = (ver: string) =>
  JSON.stringify({
    cniVersion: ver,
    name: "n",
    anotherAwesomeArg: "x",
    prevResult: { cniVersion: ver, ips: [{ address: "10.200.0.2/24" }] },
  });

/** Runs a launcher (asynchronously: a fake daemon may live in this very process). */
async function launch(plugin: string, env: Record<string, string>, stdin: string | Buffer = "", cwd?: string) {
  const e: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"],
    CNI_CONTAINERID: "c1",
    CNI_NETNS: "/run/netns/x",
    CNI_IFNAME: "eth0",
    CNI_PATH: "/opt/cni/bin",
    ...env,
  };
  const r = await nodeRawExec.run(join(RESIDENT, plugin), [], {
    env: e,
    stdin,
    timeoutMs: 20_000,
    ...(cwd ? { cwd } : {}),
  });
  return { code: r.code, signal: r.signal, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** A fake daemon on a fresh socket: `answer` gets each connection once the launcher has sent its request. */
async function fakeDaemon(name: string, answer: (c: Socket) => void): Promise<{ sock: string; server: Server }> {
  const sub = join(dir, name);
  mkdirSync(sub);
  const sock = join(sub, "cni.sock");
  const server = createServer({ allowHalfOpen: true }, (c) => {
    c.on("error", () => {});
    c.resume();
    c.on("end", () => answer(c));
  });
  await new Promise<void>((r) => server.listen(sock, r));
  return { sock, server };
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

describe("launcher ↔ podnet resident", () => {
  let sock = "";
  let daemon: Awaited<ReturnType<typeof startPodnet>> | undefined;
  before(async () => {
    sock = join(dir, "resident", "cni.sock");
    mkdirSync(join(dir, "daemon-cwd"));
    daemon = await startPodnet(["resident", "--socket", sock], { readyPath: sock, cwd: join(dir, "daemon-cwd") });
    assert.ok(existsSync(sock), daemon.log());
  });
  after(async () => {
    await daemon?.stop();
  });

  it("without a daemon the launcher falls back to the Node plugin, silently", async () => {
    const r = await launch(
      "sample",
      { CNI_COMMAND: "ADD", PODNET_CNI_SOCKET: join(dir, "nobody.sock") },
      sampleConf("0.4.0"),
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(JSON.parse(r.stdout).cniVersion, "0.4.0");
    assert.equal(r.stderr, "");
  });

  it("a relative host-local dataDir lands where the exec'd plugin puts it: under the caller's cwd", async () => {
    const conf = (net: string) =>
      JSON.stringify({
        cniVersion: "1.0.0",
        name: net,
        ipam: { type: "host-local", subnet: "10.200.8.0/24", dataDir: "ipam-rel" },
      });
    const viaDaemon = join(dir, "caller-a");
    const viaExec = join(dir, "caller-b");
    mkdirSync(viaDaemon);
    mkdirSync(viaExec);
    const r = await launch("host-local", { CNI_COMMAND: "ADD", PODNET_CNI_SOCKET: sock }, conf("rel"), viaDaemon);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const e = await nodeRawExec.run(join(CNI, "host-local"), [], {
      env: {
        PATH: process.env["PATH"],
        CNI_COMMAND: "ADD",
        CNI_CONTAINERID: "c1",
        CNI_NETNS: "/x",
        CNI_IFNAME: "eth0",
        CNI_PATH: "/opt/cni/bin",
      },
      stdin: conf("rel"),
      cwd: viaExec,
    });
    assert.equal(e.code, 0, e.stdout.toString());
    assert.deepEqual(
      readdirSync(join(viaDaemon, "ipam-rel", "rel")).sort(),
      readdirSync(join(viaExec, "ipam-rel", "rel")).sort(),
    );
    assert.deepEqual(readdirSync(join(dir, "daemon-cwd")), [], "nothing in the daemon's cwd");
  });

  it("an old launcher (protocol PNC1) gets a clear error", async () => {
    const { connect } = await import("node:net");
    const old = Buffer.concat([Buffer.from("PNC1"), u32(6), Buffer.from("sample"), u32(0), u32(0)]);
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const s = connect({ path: sock, allowHalfOpen: true });
      const got: Buffer[] = [];
      s.on("data", (b: Buffer) => got.push(b));
      s.on("end", () => resolve(Buffer.concat(got)));
      s.on("error", reject);
      s.end(old);
    });
    assert.ok(answer.length >= 8, "an answer");
    const stdout = answer.subarray(8, 8 + answer.readUInt32LE(4)).toString();
    assert.match(JSON.parse(stdout).msg, /protocol PNC1, this daemon PNC2: update the launchers/);
  });

  it("the daemon answers a request announcing 100 MiB of stdin right after its header, without waiting for the bytes", async () => {
    const { connect } = await import("node:net");
    const header = Buffer.concat([
      Buffer.from("PNC2"),
      u32(10),
      Buffer.from("host-local"),
      u32(1),
      Buffer.from("/"),
      u32(0),
      u32(100 * 1024 * 1024),
    ]);
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const s = connect({ path: sock, allowHalfOpen: true });
      const got: Buffer[] = [];
      const t = setTimeout(() => reject(new Error("no answer within 5 s")), 5000);
      s.on("data", (b: Buffer) => got.push(b));
      s.on("end", () => {
        clearTimeout(t);
        s.destroy();
        resolve(Buffer.concat(got));
      });
      s.on("error", reject);
      s.write(header); // and nothing more: our side stays open
    });
    const err = JSON.parse(answer.subarray(8, 8 + answer.readUInt32LE(4)).toString());
    assert.equal(err.code, 6);
    assert.match(err.msg, /stdin of 104857600 bytes is over the limit of 67108864/);
  });

  it("stdin over 64 MiB: a decoding error, nothing sent to the daemon", async () => {
    const r = await launch(
      "host-local",
      { CNI_COMMAND: "ADD", PODNET_CNI_SOCKET: sock },
      Buffer.alloc(64 * 1024 * 1024 + 1, 0x20),
    );
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).code, 6);
    assert.match(JSON.parse(r.stdout).msg, /larger than 67108864 bytes/);
    const { log } = await daemon!.stop();
    daemon = undefined;
    // the one call of the dataDir test, the old launcher's and the oversized request; nothing from this test
    assert.match(log, /stopped after 1 calls \(0 errors; 0 skipped, their launcher gone; 2 malformed;/);
  });
});

describe("launcher against a bad daemon", () => {
  const cases: Array<[string, (c: Socket) => void, RegExp]> = [
    // 0xFFFFFFFF bytes of stdout declared (malloc(len + 1) used to wrap to 0), then a heap's worth
    [
      "huge length",
      (c) => c.end(Buffer.concat([u32(0), u32(0xffffffff), Buffer.alloc(65536, 0x41)])),
      /stdout of 4294967295 bytes is over the limit of 67108864/,
    ],
    ["exit code out of range", (c) => c.end(Buffer.concat([u32(256), u32(0), u32(0)])), /exit code 256 is not 0-255/],
    ["no answer", (c) => c.end(), /the daemon closed the connection without answering/],
    [
      "short answer",
      (c) => c.end(Buffer.concat([u32(0), u32(100), Buffer.alloc(10)])),
      /it ended after 10 of 100 stdout bytes/,
    ],
    [
      "trailing bytes",
      (c) => c.end(Buffer.concat([u32(0), u32(0), u32(0), Buffer.from("x")])),
      /trailing bytes after the answer/,
    ],
  ];
  for (const [name, answer, want] of cases) {
    it(`${name}: a CNI error 999 naming the socket, exit 1, no crash`, async () => {
      const f = await fakeDaemon(name.replaceAll(" ", "-"), answer);
      try {
        const r = await launch("sample", { CNI_COMMAND: "ADD", PODNET_CNI_SOCKET: f.sock }, sampleConf("1.0.0"));
        assert.equal(r.signal, null, r.stderr);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        const err = JSON.parse(r.stdout);
        assert.equal(err.code, 999);
        assert.ok(err.msg.includes(`malformed answer from the podnet daemon on ${f.sock}`), err.msg);
        assert.match(err.msg, want);
      } finally {
        f.server.close();
      }
    });
  }

  it("errors are valid JSON whatever the socket path holds", async () => {
    const f = await fakeDaemon('we"ird\\ \n\tname', (c) => c.end(Buffer.concat([u32(0), u32(0xffffffff)])));
    try {
      const r = await launch("sample", { CNI_COMMAND: "ADD", PODNET_CNI_SOCKET: f.sock }, sampleConf("1.0.0"));
      assert.equal(r.code, 1);
      assert.ok(JSON.parse(r.stdout).msg.includes(f.sock));
    } finally {
      f.server.close();
    }
  });

  it("a daemon that never answers: error 999 after PODNET_CNI_TIMEOUT seconds, naming the socket and the timeout", async () => {
    const held: Socket[] = [];
    const f = await fakeDaemon("silent", (c) => held.push(c));
    try {
      const r = await launch(
        "sample",
        { CNI_COMMAND: "ADD", PODNET_CNI_SOCKET: f.sock, PODNET_CNI_TIMEOUT: "1" },
        sampleConf("1.0.0"),
      );
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const err = JSON.parse(r.stdout);
      assert.equal(err.code, 999);
      assert.equal(
        err.msg,
        `podnet launcher: no answer from the podnet daemon on ${f.sock} within 1 s (PODNET_CNI_TIMEOUT)`,
      );
    } finally {
      for (const c of held) c.destroy();
      f.server.close();
    }
  });

  it("a daemon whose backlog stays full: the launcher gives up connecting after 1 s and runs the Node plugin", async () => {
    const sub = join(dir, "backlog");
    mkdirSync(sub);
    const sock = join(sub, "cni.sock");
    // A daemon that listens (backlog 1) and then stops: nothing is ever accepted.
    const script = `require("net").createServer().listen({ path: process.argv[1], backlog: 1 }, () => { process.stdout.write("ready"); process.kill(process.pid, "SIGSTOP"); });`;
    const { spawn } = await import("node:child_process");
    const child = spawn(process.execPath, ["-e", script, sock], { stdio: ["ignore", "pipe", "ignore"] });
    const { connect } = await import("node:net");
    const fillers: Socket[] = [];
    try {
      await new Promise((r) => child.stdout!.once("data", r));
      for (let i = 0; i < 4; i++) {
        const c = connect(sock);
        c.on("error", () => {});
        fillers.push(c);
        await new Promise((r) => {
          c.once("connect", r);
          c.once("error", r);
        });
      }
      const r = await launch("sample", { CNI_COMMAND: "ADD", PODNET_CNI_SOCKET: sock }, sampleConf("1.0.0"));
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(
        JSON.parse(r.stdout),
        { cniVersion: "1.0.0", ips: [{ address: "10.200.0.2/24" }], dns: {} },
        "the Node plugin's answer",
      );
      assert.match(
        r.stderr,
        new RegExp(
          `podnet launcher: the daemon on ${sock} accepts no connection within 1000 ms; running the Node plugin instead`,
        ),
      );
    } finally {
      for (const c of fillers) c.destroy();
      child.kill("SIGKILL");
    }
  });

  it("PODNET_CNI_TIMEOUT must be a number of seconds", async () => {
    const r = await launch(
      "sample",
      { CNI_COMMAND: "ADD", PODNET_CNI_TIMEOUT: "soon", PODNET_CNI_SOCKET: join(dir, "nobody.sock") },
      sampleConf("1.0.0"),
    );
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout), {
      code: 4,
      msg: "podnet launcher: PODNET_CNI_TIMEOUT=soon: must be a whole number of seconds from 1 to 86400",
    });
  });
});

describe("a stopped daemon (SIGSTOP)", () => {
  it("the launcher times out; the daemon, continued, does not run the call whose launcher has gone", async () => {
    const sock = join(dir, "stopped", "cni.sock");
    const d = await startPodnet(["resident", "--socket", sock], { readyPath: sock });
    try {
      assert.ok(existsSync(sock), d.log());
      d.child.kill("SIGSTOP");
      const r = await launch("loopback", { CNI_COMMAND: "VERSION", PODNET_CNI_SOCKET: sock, PODNET_CNI_TIMEOUT: "1" });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(
        JSON.parse(r.stdout).msg,
        `podnet launcher: no answer from the podnet daemon on ${sock} within 1 s (PODNET_CNI_TIMEOUT)`,
      );
      d.child.kill("SIGCONT");
      for (let i = 0; i < 100 && !d.log().includes("its launcher has gone"); i++)
        await new Promise((res) => setTimeout(res, 20));
    } finally {
      await d.stop();
    }
    assert.match(d.log(), /skipped loopback VERSION: its launcher has gone/);
    assert.match(d.log(), /stopped after 0 calls \(0 errors; 1 skipped, their launcher gone/);
  });
});

describe("relative CNI_NETNS in resident mode", () => {
  it("is resolved against the caller's cwd, as the exec'd plugin would", () =>
    withSandbox(async (sb) => {
      const sock = join(sb.dir, "cni.sock");
      const d = await startPodnet(["resident", "--socket", sock], { readyPath: sock, cwd: "/" });
      try {
        const pod = sb.netns("pod");
        sh("ip", ["-n", pod, "link", "set", "lo", "down"]);
        const caller = join(sb.dir, "caller");
        mkdirSync(caller);
        symlinkSync(sb.path(pod), join(caller, "podns"));
        const conf = JSON.stringify({ cniVersion: "1.0.0", name: "lo", type: "loopback" });
        const r = await launch(
          "loopback",
          { CNI_COMMAND: "ADD", PODNET_CNI_SOCKET: sock, CNI_NETNS: "podns", CNI_IFNAME: "lo" },
          conf,
          caller,
        );
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(JSON.parse(r.stdout).interfaces[0].sandbox, "podns", "the result keeps the path as given");
        assert.equal(sb.ipJson(pod, ["link", "show", "lo"])[0]?.["operstate"], "UNKNOWN", "lo is up in the pod");
      } finally {
        await d.stop();
      }
      assert.match(d.log(), /stopped after 1 calls \(0 errors/);
    }));
});
