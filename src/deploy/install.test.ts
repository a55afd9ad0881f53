// install/uninstall over temp directories: what is written, what is refused, what comes back.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256 } from "./files.js";
import { InstallConflictError, install, type InstallRequest, type WantedFile } from "./install.js";
import { MANIFEST_FILE, ManifestError, readManifest } from "./manifest.js";
import { treeSnapshot } from "./testing.js";
import { uninstall } from "./uninstall.js";

let root = "";
let bin = "";
let units = "";
let state = "";
const euid = process.geteuid?.() ?? 0;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "podnet-t-deploy-"));
  bin = join(root, "opt", "cni", "bin");
  units = join(root, "systemd");
  state = join(root, "var", "lib", "podnet");
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const file = (
  path: string,
  text: string,
  component: WantedFile["component"] = "plugins",
  mode = 0o755,
): WantedFile => ({ path, bytes: Buffer.from(text), mode, component });
const plugins = (v = "1") => [
  file(join(bin, "podnet_netlink.node"), `addon ${v}`),
  file(join(bin, "podnet-bridge.cjs"), `bridge ${v}`),
  file(join(bin, "bridge"), `launcher ${v}`),
];
const systemd = () => [file(join(units, "podnet-node.service"), "[Unit]\n", "systemd", 0o644)];
const req = (files: WantedFile[], o: Partial<InstallRequest> = {}): InstallRequest => ({
  stateDir: state,
  files,
  components: [...new Set(files.map((f) => f.component))],
  force: false,
  dryRun: false,
  euid,
  podnet: "0.1.0",
  commit: "abc",
  now: "2025-01-01T00:00:00.000Z",
  ...o,
});

describe("podnet install", () => {
  it("writes each file with its mode, records path, sha256 and mode, and the directories it made", () => {
    const r = install(req([...plugins(), ...systemd()]));
    assert.deepEqual(
      r.lines.map((l) => `${l.action} ${l.path}`),
      [...plugins(), ...systemd()].map((f) => `wrote ${f.path}`),
    );
    assert.equal(readFileSync(join(bin, "bridge"), "utf8"), "launcher 1");
    assert.equal(statSync(join(bin, "bridge")).mode & 0o777, 0o755);
    assert.equal(statSync(join(units, "podnet-node.service")).mode & 0o777, 0o644);
    const m = readManifest(state, euid)!;
    assert.deepEqual(
      m.files.map((f) => [f.path, f.sha256, f.mode, f.component]),
      [
        [join(bin, "podnet_netlink.node"), sha256("addon 1"), "0755", "plugins"],
        [join(bin, "podnet-bridge.cjs"), sha256("bridge 1"), "0755", "plugins"],
        [join(bin, "bridge"), sha256("launcher 1"), "0755", "plugins"],
        [join(units, "podnet-node.service"), sha256("[Unit]\n"), "0644", "systemd"],
      ],
    );
    assert.deepEqual(
      m.dirs.map((d) => d.path).sort(),
      [
        join(root, "opt"),
        join(root, "opt", "cni"),
        bin,
        units,
        join(root, "var"),
        join(root, "var", "lib"),
        state,
      ].sort(),
    );
  });

  it("refuses a file it did not write, naming it, and changes nothing", () => {
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "bridge"), "Go's bridge");
    const before = treeSnapshot(root);
    assert.throws(
      () => install(req(plugins())),
      (e: InstallConflictError) =>
        e instanceof InstallConflictError &&
        e.conflicts.length === 1 &&
        e.conflicts[0]!.path === join(bin, "bridge") &&
        /not written by podnet: a regular file/.test(e.message),
    );
    assert.deepEqual(treeSnapshot(root), before);
  });

  it("a symlink in the way is refused too, and never followed", () => {
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(root, "target"), "precious");
    symlinkSync(join(root, "target"), join(bin, "bridge"));
    assert.throws(() => install(req(plugins())), /bridge: not written by podnet: a symlink to/);
    install(req(plugins(), { force: true }));
    assert.equal(readFileSync(join(root, "target"), "utf8"), "precious", "the link's target is untouched");
    uninstall({ stateDir: state, force: false, dryRun: false, euid });
    assert.equal(readFileSync(join(bin, "bridge"), "utf8"), "precious", "the symlink is back");
  });

  it("a directory in the way is refused even with --force", () => {
    mkdirSync(join(bin, "bridge"), { recursive: true });
    assert.throws(() => install(req(plugins(), { force: true })), /bridge: is a directory/);
  });

  it("install → uninstall leaves the trees byte-identical, with a foreign file beside and one replaced (--force)", () => {
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "macvlan"), "Go's macvlan", { mode: 0o750 });
    writeFileSync(join(bin, "bridge"), "Go's bridge", { mode: 0o711 });
    const before = treeSnapshot(root);
    const r = install(req([...plugins(), ...systemd()], { force: true }));
    const replaced = r.lines.find((l) => l.action === "replaced")!;
    assert.equal(replaced.path, join(bin, "bridge"));
    assert.match(replaced.note!, /not podnet's: saved to .*install-backup.*podnet uninstall puts it back/);
    assert.equal(readFileSync(join(bin, "macvlan"), "utf8"), "Go's macvlan");
    const u = uninstall({ stateDir: state, force: false, dryRun: false, euid });
    assert.ok(u.lines.some((l) => l.action === "restored" && l.path === join(bin, "bridge")));
    assert.deepEqual(treeSnapshot(root), before);
  });

  it("a re-install: unchanged files stay, changed ones are updated, the backup of a replaced file carries over", () => {
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "bridge"), "Go's bridge");
    const before = treeSnapshot(root);
    install(req(plugins("1"), { force: true }));
    const r = install(
      req([
        file(join(bin, "podnet_netlink.node"), "addon 1"),
        file(join(bin, "podnet-bridge.cjs"), "bridge 2"),
        file(join(bin, "bridge"), "launcher 2"),
      ]),
    );
    assert.deepEqual(
      r.lines.map((l) => l.action),
      ["unchanged", "updated", "updated"],
    );
    assert.equal(readFileSync(join(bin, "bridge"), "utf8"), "launcher 2");
    uninstall({ stateDir: state, force: false, dryRun: false, euid });
    assert.deepEqual(treeSnapshot(root), before, "Go's bridge is back after two installs");
  });

  it("a component written again replaces its previous files; the others stay recorded", () => {
    install(req([...plugins(), ...systemd()]));
    // --exec after resident: the bundles replace the launchers, the .cjs fallbacks go
    const r = install(req([file(join(bin, "podnet_netlink.node"), "addon 1"), file(join(bin, "bridge"), "bundle")]));
    assert.deepEqual(
      r.lines.map((l) => `${l.action} ${l.path.slice(root.length)}`),
      [
        "unchanged /opt/cni/bin/podnet_netlink.node",
        "updated /opt/cni/bin/bridge",
        "removed /opt/cni/bin/podnet-bridge.cjs",
      ],
    );
    assert.equal(existsSync(join(bin, "podnet-bridge.cjs")), false);
    const m = readManifest(state, euid)!;
    assert.deepEqual(m.files.map((f) => f.path.slice(root.length)).sort(), [
      "/opt/cni/bin/bridge",
      "/opt/cni/bin/podnet_netlink.node",
      "/systemd/podnet-node.service",
    ]);
  });

  it("a file of podnet's changed since: refused by install and uninstall; --force goes ahead", () => {
    install(req(plugins()));
    writeFileSync(join(bin, "bridge"), "edited by hand");
    assert.throws(() => install(req(plugins())), /bridge: changed since podnet installed it \(now a regular file/);
    assert.throws(
      () => uninstall({ stateDir: state, force: false, dryRun: false, euid }),
      (e: InstallConflictError) =>
        /refusing to uninstall \(nothing was removed/.test(e.message) && e.conflicts[0]!.path === join(bin, "bridge"),
    );
    assert.equal(existsSync(join(bin, "podnet-bridge.cjs")), true, "nothing was removed");
    const r = uninstall({ stateDir: state, force: true, dryRun: false, euid });
    assert.ok(r.lines.some((l) => l.path === join(bin, "bridge") && /changed since install/.test(l.note ?? "")));
    assert.equal(existsSync(join(root, "opt")), false);
  });

  it("uninstall refuses while a unit is enabled (its symlink would dangle)", () => {
    install(req([...plugins(), ...systemd()]));
    mkdirSync(join(units, "multi-user.target.wants"));
    symlinkSync(join(units, "podnet-node.service"), join(units, "multi-user.target.wants", "podnet-node.service"));
    assert.throws(
      () => uninstall({ stateDir: state, force: false, dryRun: false, euid }),
      /still enabled .*systemctl disable --now podnet-node.service/,
    );
  });

  it("--dry-run reports and changes nothing, for install and uninstall", () => {
    const empty = treeSnapshot(root);
    const r = install(req(plugins(), { dryRun: true }));
    assert.equal(r.lines.length, 3);
    assert.deepEqual(treeSnapshot(root), empty);
    install(req(plugins()));
    const installed = treeSnapshot(root);
    const u = uninstall({ stateDir: state, force: false, dryRun: true, euid });
    assert.equal(u.lines.filter((l) => l.action === "removed").length, 3);
    assert.deepEqual(treeSnapshot(root), installed);
  });

  it("no manifest: nothing to uninstall", () => {
    assert.deepEqual(uninstall({ stateDir: state, force: false, dryRun: false, euid }), { found: false, lines: [] });
  });

  it("a manifest anyone else could have written is refused", () => {
    install(req(plugins()));
    chmodSync(join(state, MANIFEST_FILE), 0o666);
    assert.throws(
      () => uninstall({ stateDir: state, force: true, dryRun: false, euid }),
      (e: ManifestError) => e instanceof ManifestError && /writable by group or others \(mode 0666\)/.test(e.message),
    );
    chmodSync(join(state, MANIFEST_FILE), 0o644);
    chmodSync(state, 0o777);
    assert.throws(
      () => uninstall({ stateDir: state, force: true, dryRun: false, euid }),
      /refusing the install manifest .*writable by group or others \(mode 0777\)/,
    );
  });

  it("a manifest naming a relative or unnormalised path is refused before anything is removed", () => {
    install(req(plugins()));
    const path = join(state, MANIFEST_FILE);
    for (const bad of ["etc/passwd", `${bin}/../../../etc/passwd`, "/"]) {
      const m = JSON.parse(readFileSync(path, "utf8")) as { files: Array<{ path: string }> };
      m.files[0]!.path = bad;
      writeFileSync(path, JSON.stringify(m));
      assert.throws(
        () => uninstall({ stateDir: state, force: true, dryRun: false, euid }),
        /files\[0\]\.path: must be an absolute, normalised path/,
      );
    }
    assert.equal(existsSync(join(bin, "bridge")), true);
  });

  it("a backup outside podnet's backup directory is refused", () => {
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "bridge"), "Go's bridge");
    install(req(plugins(), { force: true }));
    const path = join(state, MANIFEST_FILE);
    const m = JSON.parse(readFileSync(path, "utf8")) as { files: Array<{ replaced?: { backup: string } }> };
    m.files.find((f) => f.replaced)!.replaced!.backup = "/etc/shadow";
    writeFileSync(path, JSON.stringify(m));
    assert.throws(
      () => uninstall({ stateDir: state, force: false, dryRun: false, euid }),
      /replaced\.backup: "\/etc\/shadow" is not in/,
    );
  });
});
