// Processes started with the addon's posix_spawn (spawn.ts) behave as child_process.spawn's did
// for every caller of exec.ts: output, exit codes and signals, stdin now or later, the child's
// PATH, cwd and environment, timeouts, aborts, start failures, and the child is reaped. Real
// processes (sh, sleep, env); needs the addon, not root.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAddon } from "./addon.js";
import { ExecError, ExecStartError, nodeExec, nodeRawExec } from "./exec.js";
import { lookPath, nativeRun, nativeSpawnOf } from "./spawn.js";

const ns = (() => {
  try {
    return nativeSpawnOf(loadAddon());
  } catch {
    return undefined;
  }
})();
const SH = "/bin/sh";

describe("native spawn", { skip: ns ? false : "the addon has no spawn (rebuild it: npm run install)" }, () => {
  const run = (file: string, args: string[], opts = {}) => nativeRun(ns!, file, args, opts);

  it("is what nodeRawExec uses", async () => {
    // a posix_spawn'd child's parent is this process, and no child_process handle exists for it
    const r = await nodeRawExec.run(SH, ["-c", "echo $PPID"]);
    assert.equal(r.stdout.toString().trim(), String(process.pid));
  });

  it("returns stdout, stderr and the exit code; stdin is written and closed", async () => {
    const r = await run(SH, ["-c", "cat; echo oops >&2; exit 3"], { stdin: "hello\n" });
    assert.deepEqual(
      [r.code, r.signal, r.stdout.toString(), r.stderr.toString(), r.timedOut],
      [3, null, "hello\n", "oops\n", false],
    );
  });

  it("stdin given later (deferredStdin): the child starts at once and reads it when it comes", async () => {
    let give: (s: string) => void = () => {};
    const later = new Promise<string>((r) => (give = r));
    const p = run(SH, ["-c", "cat"], { deferredStdin: later });
    setTimeout(() => give("late"), 20);
    assert.equal((await p).stdout.toString(), "late");
    // a rejected input closes stdin empty
    const r = await run(SH, ["-c", "cat; echo done"], { deferredStdin: Promise.reject(new Error("no input")) });
    assert.equal(r.stdout.toString(), "done\n");
  });

  it("a child killed by a signal reports the signal's name and no code", async () => {
    const r = await run(SH, ["-c", "kill -TERM $$"]);
    assert.deepEqual([r.code, r.signal], [null, "SIGTERM"]);
  });

  it("a timeout kills the child and says so", async () => {
    const r = await run("sleep", ["10"], { timeoutMs: 50 });
    assert.deepEqual([r.code, r.signal, r.timedOut], [null, "SIGKILL", true]);
  });

  it("an abort signal terminates it", async () => {
    const ac = new AbortController();
    const p = run("sleep", ["10"], { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    assert.equal((await p).signal, "SIGTERM");
  });

  it("waits for the exit of a child that closed its output early", async () => {
    const r = await run(SH, ["-c", "exec >&- 2>&-; sleep 0.1; exit 4"]);
    assert.equal(r.code, 4);
  });

  it("looks the program up in the child's PATH, as execvp does; cwd and env are the child's", async () => {
    const d = mkdtempSync(join(tmpdir(), "podnet-spawn-"));
    try {
      writeFileSync(join(d, "hello-podnet"), '#!/bin/sh\necho "$GREETING from $(pwd)"\n');
      chmodSync(join(d, "hello-podnet"), 0o755);
      const r = await run("hello-podnet", [], { env: { PATH: `/nonexistent:${d}`, GREETING: "hi" }, cwd: "/" });
      assert.equal(r.stdout.toString(), "hi from /\n");
      // not in the child's PATH: not found, whatever this process's PATH says
      await assert.rejects(
        run("sh", [], { env: { PATH: d } }),
        (e: unknown) => e instanceof ExecStartError && e.errno === "ENOENT",
      );
      // only the given environment
      const env = await run("/usr/bin/env", [], { env: { ONLY: "1" } });
      assert.equal(env.stdout.toString(), "ONLY=1\n");
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("a program that cannot be started is an ExecStartError with the errno (nodeExec: ExecError, not started)", async () => {
    await assert.rejects(
      run("/nonexistent/prog", []),
      (e: unknown) => e instanceof ExecStartError && e.errno === "ENOENT",
    );
    const d = mkdtempSync(join(tmpdir(), "podnet-spawn-"));
    try {
      writeFileSync(join(d, "not-executable"), "#!/bin/sh\n", { mode: 0o644 });
      await assert.rejects(
        run(join(d, "not-executable"), []),
        (e: unknown) => e instanceof ExecStartError && e.errno === "EACCES",
      );
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
    await assert.rejects(
      run(SH, [], { cwd: "/nonexistent-dir" }),
      (e: unknown) => e instanceof ExecStartError && e.errno === "ENOENT",
    );
    await assert.rejects(
      nodeExec.run(["/nonexistent/prog"]),
      (e: unknown) => e instanceof ExecError && e.exitCode === null && e.cause instanceof ExecStartError,
    );
  });

  it("reaps every child: none is left a zombie", async () => {
    const pids: number[] = [];
    for (let i = 0; i < 20; i++) pids.push(Number((await run(SH, ["-c", "echo $$"])).stdout.toString()));
    for (const pid of pids) {
      let state = "";
      try {
        state = readFileSync(`/proc/${pid}/stat`, "utf8").split(" ")[2] ?? "";
      } catch {
        // gone entirely: reaped
      }
      assert.notEqual(state, "Z", `pid ${pid} is a zombie`);
    }
  });

  it("many at once, each with its own output", async () => {
    const rs = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        run(SH, ["-c", `head -c 100000 /dev/zero | tr '\\0' ${"abcdefghijklmnop"[i]}`]),
      ),
    );
    for (const [i, r] of rs.entries()) assert.equal(r.stdout.toString(), "abcdefghijklmnop"[i]!.repeat(100_000));
  });
});

describe("lookPath (execvp's search)", () => {
  it("takes a name with a slash as it is; searches PATH otherwise, empty entries meaning the cwd", () => {
    assert.deepEqual(lookPath("./x", "/bin"), { path: "./x", errno: "" });
    assert.deepEqual(lookPath("sh", "/nonexistent:/bin"), { path: "/bin/sh", errno: "" });
    assert.equal(lookPath("sh", "/nonexistent").path, undefined);
    assert.equal(lookPath("", "/bin").errno, "ENOENT");
    // a directory on the way is not a program
    assert.equal(lookPath("bin", "/").path, undefined);
  });
});
