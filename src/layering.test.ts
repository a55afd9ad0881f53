// The layering rules, checked over the source tree: side effects enter through deps. Only main.ts
// files, the CLI, src/kernel/exec.ts (processes) and src/kernel/addon.ts touch `process` or
// `child_process`; tests and benchmarks may. The node manager (src/netmgr) is layered by concern:
// core (the plugin contract, the manager), invoke (running CNI plugins), plugins (noop, cni, exec,
// kubenet), sandbox (pods as sandboxes: runtime, lifecycle, checkpoints, manifests), daemon (the
// assembly and its API), testing (test doubles); NETMGR_IMPORTS says which may import which.
// Cluster networking (src/cluster) sits beside the node manager: the daemon wires it in.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { isTesting, sourceFiles } from "./util/testing-source.js";

const isEdge = (rel: string) =>
  rel.endsWith("/main.ts") ||
  rel.startsWith("src/cli/") ||
  rel.startsWith("src/netmgr/daemon") ||
  rel === "src/kernel/exec.ts" ||
  rel === "src/kernel/addon.ts" ||
  isTesting(rel);

/** What each folder of src/netmgr may import besides itself (src/ paths; a test may import anything). */
const NETMGR_IMPORTS: Readonly<Record<string, readonly string[]>> = {
  core: ["src/cni", "src/ip", "src/util"],
  invoke: ["src/netmgr/core", "src/cni", "src/ip", "src/util", "src/kernel", "src/libcni", "src/sdk", "src/resident"],
  plugins: ["src/netmgr/core", "src/netmgr/invoke", "src/cni", "src/ip", "src/util", "src/kernel", "src/libcni"],
  sandbox: ["src/netmgr/core", "src/cni", "src/ip", "src/util"],
  daemon: [
    "src/netmgr/core",
    "src/netmgr/invoke",
    "src/netmgr/plugins",
    "src/netmgr/sandbox",
    "src/cni",
    "src/ip",
    "src/util",
    "src/kernel",
    "src/libcni",
    "src/sdk",
    "src/resident",
    "src/cluster",
  ],
};

/** What cluster networking (src/cluster) may import: the daemon wires it in, never the other way round. */
const CLUSTER_IMPORTS: readonly string[] = ["src/ip", "src/kernel", "src/util"];

/** The src/ paths a file's relative imports name (static and dynamic). */
function importsOf(rel: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)"(\.{1,2}\/[^"]+)"/g))
    out.push(join(dirname(rel), m[1]!));
  return out;
}

const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

describe("layering", () => {
  const files = sourceFiles();
  it("finds the source tree", () => assert.ok(files.length > 20));
  it("only src/kernel/exec.ts starts processes", () => {
    const bad = files.filter(
      (f) =>
        /from "node:child_process"|require\("child_process"\)/.test(f.text) &&
        f.rel !== "src/kernel/exec.ts" &&
        !isTesting(f.rel),
    );
    assert.deepEqual(
      bad.map((f) => f.rel),
      [],
    );
  });
  it("plugins, the SDK, libcni, the CNI core, the node manager and the resident daemon never read process.env or call process.exit", () => {
    const layered = files.filter(
      (f) => /^src\/(cni|sdk|libcni|plugins|ip|netmgr|resident)\//.test(f.rel) && !isEdge(f.rel),
    );
    const bad = layered.filter((f) => /\bprocess\.(env|exit|argv|stdout|stderr|stdin)\b/.test(f.text));
    assert.deepEqual(
      bad.map((f) => f.rel),
      [],
    );
  });
  it("the pure CNI core and IP math do no I/O", () => {
    const pure = files.filter((f) => /^src\/(cni|ip)\//.test(f.rel));
    const bad = pure.filter((f) => /from "node:(fs|child_process|net|dgram|http)/.test(f.text));
    assert.deepEqual(
      bad.map((f) => f.rel),
      [],
    );
  });

  it(`cluster networking imports only ${CLUSTER_IMPORTS.join(", ")}; only the daemon and the CLI import it`, () => {
    const own = files.filter((f) => f.rel.startsWith("src/cluster/") && !isTesting(f.rel));
    const bad = own.flatMap((f) =>
      importsOf(f.rel, f.text)
        .filter((t) => !under(t, "src/cluster") && !CLUSTER_IMPORTS.some((a) => under(t, a)))
        .map((t) => `${f.rel} → ${t}`),
    );
    const users = files.filter(
      (f) =>
        !f.rel.startsWith("src/cluster/") &&
        !f.rel.startsWith("src/cli/") &&
        !f.rel.startsWith("src/netmgr/daemon/") &&
        importsOf(f.rel, f.text).some((t) => under(t, "src/cluster")),
    );
    assert.deepEqual([...bad, ...users.map((f) => f.rel)], []);
  });

  describe("the node manager", () => {
    const netmgr = files.filter((f) => f.rel.startsWith("src/netmgr/"));
    const folderOf = (rel: string) => rel.split("/")[2]!;
    it("every source file is in one of its folders", () => {
      assert.deepEqual(
        netmgr.map((f) => f.rel).filter((r) => !(folderOf(r) in NETMGR_IMPORTS) && folderOf(r) !== "testing"),
        [],
      );
    });
    for (const [folder, allowed] of Object.entries(NETMGR_IMPORTS)) {
      it(`${folder} imports only ${allowed.length ? allowed.join(", ") : "itself"}`, () => {
        const own = `src/netmgr/${folder}`;
        const bad = netmgr
          .filter((f) => folderOf(f.rel) === folder)
          .flatMap((f) =>
            importsOf(f.rel, f.text)
              .filter((t) => !under(t, own) && !allowed.some((a) => under(t, a)))
              .map((t) => `${f.rel} → ${t}`),
          );
        assert.deepEqual(bad, []);
      });
    }
    it("core does no I/O (no node: module)", () => {
      assert.deepEqual(
        netmgr.filter((f) => folderOf(f.rel) === "core" && /from "node:/.test(f.text)).map((f) => f.rel),
        [],
      );
    });
    it("a plugin's folder imports no other plugin's; the plugins' shared files import none", () => {
      const pluginOf = (path: string) => (/^src\/netmgr\/plugins\/([^/]+)\//.exec(path) ?? [])[1];
      const bad = netmgr
        .filter((f) => f.rel.startsWith("src/netmgr/plugins/"))
        .flatMap((f) =>
          importsOf(f.rel, f.text)
            .filter((t) => pluginOf(t) !== undefined && pluginOf(t) !== pluginOf(f.rel))
            .map((t) => `${f.rel} → ${t}`),
        );
      assert.deepEqual(bad, []);
    });
    it("only the CLI imports the node manager; nothing but tests imports its test doubles", () => {
      const outside = files.filter(
        (f) =>
          !f.rel.startsWith("src/netmgr/") &&
          !f.rel.startsWith("src/cli/") &&
          importsOf(f.rel, f.text).some((t) => under(t, "src/netmgr")),
      );
      const doubles = files.filter(
        (f) => !isTesting(f.rel) && importsOf(f.rel, f.text).some((t) => under(t, "src/netmgr/testing")),
      );
      assert.deepEqual(
        [...outside, ...doubles].map((f) => f.rel),
        [],
      );
    });
  });
});
