// The `podnet` command as a user meets it: --help and usage errors for every command, exit codes,
// version, a reader that goes away (EPIPE), and the shell completion scripts run by real shells.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ALL_SPEC_VERSIONS } from "../../src/cni/index.js";
import { COMMANDS } from "../../src/cli/commands.js";
import { REPO } from "./sandbox.js";
import { PODNET } from "./users.js";

function podnet(args: string[], input?: string) {
  const env = { ...process.env };
  delete env["NODE_OPTIONS"];
  delete env["NODE_EXTRA_CA_CERTS"];
  const r = spawnSync(process.execPath, [PODNET, ...args], {
    encoding: "utf8",
    env,
    timeout: 30_000,
    ...(input !== undefined ? { input } : {}),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The flags an usage text defines: lines "  --flag …" or "  -f, --flag …". */
const definedFlags = (usage: string) =>
  new Set([...usage.matchAll(/^\s+(?:-\w, )?--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]!));

describe("every command", () => {
  for (const c of COMMANDS) {
    it(`${c.name} --help: the usage on stdout, exit 0, with the exit codes and every flag completion offers`, async () => {
      const r = podnet([c.name, "--help"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      assert.match(r.stdout, new RegExp(`^usage: podnet ${c.name}\\b`));
      assert.match(
        r.stdout,
        /\nexit codes:\n {2}0 {2}success\n {2}1 {2}.+\n {2}2 {2}usage error: the usage is on stderr\n/,
      );
      const flags = (await c.flags()).map((f) => f.name).sort();
      assert.deepEqual(
        [...definedFlags(r.stdout)].filter((f) => f !== "help").sort(),
        flags,
        "--help and the completion list the same flags",
      );
      assert.equal(podnet(["help", c.name]).stdout, r.stdout, "podnet help CMD is CMD --help");
    });
    it(`${c.name} with an unknown flag: the usage on stderr, exit 2, nothing on stdout`, () => {
      const r = podnet([c.name, "--no-such-flag"]);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.match(
        r.stderr,
        new RegExp(`^podnet ${c.name}: Unknown option '--no-such-flag'.*\\nusage: podnet ${c.name}\\b`, "s"),
      );
    });
  }
  it("podnet alone, or an unknown command: the usage on stderr, exit 2; --help: on stdout, exit 0", () => {
    for (const args of [[], ["frobnicate"]]) {
      const r = podnet(args);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /usage: podnet <command>/);
    }
    const h = podnet(["--help"]);
    assert.equal(h.code, 0);
    for (const c of COMMANDS) assert.match(h.stdout, new RegExp(`^  ${c.name} +\\S`, "m"));
    assert.match(h.stdout, /exit codes:/);
  });
  it("usage errors of the verbs: exit 2 with the usage on stderr", () => {
    for (const args of [
      ["cni", "add", "net"],
      ["cni", "gc", "net"],
      ["cni", "gc", "net", "--all", "--valid-attachment", "c/eth0"],
      ["cni", "add", "n", "/x", "--dry-run"],
      ["ipam", "release", "net"],
      ["ipam", "frob"],
      ["pod"],
      ["completion", "fish"],
      ["install", "--pod-cidr", "10.0.0.0/24"],
      ["install", "--conflist", "--pod-cidr", "10.0.0.1/24"],
      ["resident", "--workers", "0"],
      ["resident", "--workers", "65"],
      ["resident", "--workers", "2x"],
    ]) {
      const r = podnet(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, "", args.join(" "));
      assert.match(r.stderr, /usage: podnet/, args.join(" "));
    }
  });
});

describe("podnet version", () => {
  it("--version and version: podnet's version, the commit it was built from, Node, the CNI spec versions", () => {
    const a = podnet(["--version"]);
    const b = podnet(["version"]);
    assert.equal(a.code, 0);
    assert.equal(a.stdout, b.stdout);
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };
    const [l1, l2, l3, l4] = a.stdout.split("\n");
    assert.equal(l1, `podnet ${pkg.version}`);
    assert.equal(l3, `node: ${process.version}`);
    assert.equal(l4, `CNI spec versions: ${ALL_SPEC_VERSIONS.join(", ")}`);
    const commit = /^commit: ([0-9a-f]{40})(-dirty)?$/.exec(l2!)?.[1];
    assert.ok(commit, l2);
    assert.equal(
      spawnSync("git", ["-C", REPO, "cat-file", "-e", `${commit}^{commit}`]).status,
      0,
      `${commit} is a commit of this checkout`,
    );
    const j = JSON.parse(podnet(["version", "--json"]).stdout) as Record<string, unknown>;
    assert.deepEqual(j, {
      version: pkg.version,
      commit: l2!.slice("commit: ".length),
      node: process.version,
      cniSpecVersions: [...ALL_SPEC_VERSIONS],
    });
  });
  it("the build says unknown outside the package's own git checkout", async () => {
    const { gitCommit } = (await import(join(REPO, "scripts", "build-info.mjs"))) as {
      gitCommit(root: string): string;
    };
    const dir = mkdtempSync(join(tmpdir(), "podnet-t-buildinfo-"));
    try {
      assert.equal(gitCommit(dir), "unknown", "not a git checkout");
      spawnSync("git", ["init", "-q", dir]);
      mkdirSync(join(dir, "node_modules", "podnet"), { recursive: true });
      assert.equal(gitCommit(join(dir, "node_modules", "podnet")), "unknown", "inside another project's repository");
      assert.match(gitCommit(REPO), /^[0-9a-f]{40}(-dirty)?$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a reader that goes away (podnet … | head -1)", () => {
  for (const args of [["install", "--help"], ["--help"], ["completion", "bash"], ["version"], ["cni", "--help"]]) {
    it(`podnet ${args.join(" ")}: no stack trace, exit 0`, async () => {
      const env = { ...process.env };
      delete env["NODE_OPTIONS"];
      const child = spawn(process.execPath, [PODNET, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
      child.stdout.destroy(); // the read end closes before podnet writes: its write gets EPIPE
      let err = "";
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((r) => child.on("close", r));
      assert.equal(err, "");
      assert.equal(code, 0);
    });
  }
  it("in a shell pipeline", () => {
    const r = spawnSync(
      "bash",
      ["-o", "pipefail", "-c", `"${process.execPath}" "${PODNET}" install --help | head -1`],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0);
    assert.equal(r.stdout, "usage: podnet install [flags]\n");
    assert.equal(r.stderr, "");
  });
});

describe("shell completion", () => {
  const script = (shell: string) => {
    const r = podnet(["completion", shell]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  it("bash: commands, verbs, flags, and flag values", () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-t-compl-"));
    try {
      writeFileSync(join(dir, "podnet.bash"), script("bash"));
      mkdirSync(join(dir, "somedir"));
      const complete = (...words: string[]) => {
        const w = words.map((x) => `'${x}'`).join(" ");
        const r = spawnSync(
          "bash",
          [
            "-c",
            `cd '${dir}'; source podnet.bash; COMP_WORDS=(podnet ${w}); COMP_CWORD=${words.length}; _podnet; printf '%s\\n' "\${COMPREPLY[@]}"`,
          ],
          { encoding: "utf8" },
        );
        assert.equal(r.stderr, "");
        return r.stdout.split("\n").filter(Boolean);
      };
      assert.deepEqual(complete("ins"), ["install"]);
      assert.deepEqual(complete("u"), ["uninstall"]);
      assert.deepEqual(complete("cni", "g"), ["gc"]);
      assert.deepEqual(complete("ipam", ""), ["list", "release"]);
      assert.deepEqual(complete("install", "--cni-"), ["--cni-bin-dir", "--cni-socket", "--cni-conf-dir"]);
      assert.deepEqual(complete("cni", "gc", "net", "--valid-a"), ["--valid-attachment", "--valid-attachments-file"]);
      assert.deepEqual(complete("demo", "--plugins", ""), ["podnet", "go"]);
      assert.deepEqual(complete("install", "--cni-bin-dir", "som"), ["somedir"]);
      assert.deepEqual(complete("node", "--network-plugin-m"), ["--network-plugin-mtu"]);
      assert.deepEqual(complete("help", "compl"), ["completion"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("zsh: valid zsh, and each command dispatches to its flags", () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-t-compl-"));
    try {
      writeFileSync(join(dir, "_podnet"), script("zsh"));
      assert.equal(spawnSync("zsh", ["-n", join(dir, "_podnet")], { encoding: "utf8" }).status, 0);
      // compsys's functions stubbed to print what they were given
      const run = (...words: string[]) => {
        const prog = `compdef() { print -r -- "compdef $*" }; _describe() { print -r -- "describe $3 \${(P)4}" }; _arguments() { print -r -- "arguments $*" }
source '${join(dir, "_podnet")}'
words=(podnet ${words.map((x) => `'${x}'`).join(" ")}); CURRENT=${words.length + 1}; _podnet`;
        const r = spawnSync("zsh", ["-f", "-c", prog], { encoding: "utf8" });
        assert.equal(r.stderr, "");
        return r.stdout;
      };
      assert.match(
        run(""),
        /^compdef _podnet podnet\ndescribe podnet command install:install the CNI plugins.* completion:a shell completion script\\: completion bash\|zsh\n$/,
      );
      assert.match(
        run("install", "--c"),
        /arguments -s --cni-bin-dir=:cni-bin-dir:_files -\/ --exec .*\*--node-arg=:node-arg: .* --dry-run \(- \*\)--help\[show the usage\]\n$/,
      );
      assert.match(
        run("cni", ""),
        /arguments -s .*--dry-run \(- \*\)--help\[show the usage\] 1:verb:\(add check del status gc version\) \*:argument:_files\n$/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
