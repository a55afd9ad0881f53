import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { insideEsmPackage, pluginFiles, stampShebang, withFreshCodeCaches } from "./plugins.js";

let from = "";
beforeEach(() => {
  from = mkdtempSync(join(tmpdir(), "podnet-t-plugins-"));
});
afterEach(() => rmSync(from, { recursive: true, force: true }));

describe("the plugin files of a build", () => {
  it("every file the build left, whatever its name, but the SDK sample and bookkeeping; the addon first, entry points last", () => {
    const put = (n: string, text: string, mode = 0o755) => writeFileSync(join(from, n), text, { mode });
    put("podnet_netlink.node", "\x7fELF addon");
    put("bridge", "\x7fELF launcher");
    put("loopback", "\x7fELF launcher");
    put("podnet-bridge.cjs", "#!/usr/bin/node\nbundle");
    put("podnet-bridge.cjs.cache", "v8 code cache", 0o644); // a file a future build may put beside a bundle
    put("sample", "x");
    put("podnet-sample.cjs", "x");
    put("podnet-sample.cjs.cache", "x");
    put("package.json", "{}");
    put(".launcher", "x");
    mkdirSync(join(from, "subdir"));
    const files = pluginFiles(from, "/opt/node/bin/node");
    assert.deepEqual(
      files.map((f) => f.name),
      ["podnet_netlink.node", "podnet-bridge.cjs", "podnet-bridge.cjs.cache", "bridge", "loopback"],
    );
    assert.deepEqual(
      files.map((f) => f.mode.toString(8)),
      ["755", "755", "644", "755", "755"],
    );
    assert.equal(files[1]!.bytes.toString(), "#!/opt/node/bin/node\nbundle", "the Node that installs runs it");
    assert.equal(files[3]!.bytes.toString(), "\x7fELF launcher");
    assert.deepEqual(
      files.map((f) => f.stamped),
      [false, true, false, false, false],
    );
  });
  it("remakes the code cache of the stamped files only, each from a private copy, and keeps a file refresh does not know", async () => {
    const put = (n: string, text: string) => writeFileSync(join(from, n), text, { mode: 0o755 });
    put("podnet_netlink.node", "\x7fELF addon");
    put("bridge", "\x7fELF launcher");
    put("podnet-bridge.cjs", "#!/usr/bin/node\nbundle");
    put("podnet-loopback.cjs", "#!/opt/node/bin/node\nbundle");
    put("podnet-other.cjs", "#!/usr/bin/node\nnot a plugin file");
    const seen: string[] = [];
    const files = await withFreshCodeCaches(pluginFiles(from, "/opt/node/bin/node"), async (path) => {
      seen.push(path);
      const text = readFileSync(path, "utf8");
      if (text.includes("not a plugin file")) return false;
      writeFileSync(path, `${text}+cache for ${text.split("\n")[0]}`);
      return true;
    });
    assert.equal(seen.length, 2, "the two stamped files");
    assert.ok(
      seen.every((p) => !p.startsWith(from)),
      "never the build's own files",
    );
    const text = (n: string) => files.find((f) => f.name === n)!.bytes.toString();
    assert.equal(text("podnet-bridge.cjs"), "#!/opt/node/bin/node\nbundle+cache for #!/opt/node/bin/node");
    assert.equal(text("podnet-loopback.cjs"), "#!/opt/node/bin/node\nbundle", "already this Node's: as built");
    assert.equal(text("podnet-other.cjs"), "#!/opt/node/bin/node\nnot a plugin file");
    assert.equal(
      readFileSync(join(from, "podnet-bridge.cjs"), "utf8"),
      "#!/usr/bin/node\nbundle",
      "the build is untouched",
    );
  });
  it("says what to do when nothing is built", () => {
    assert.throws(() => pluginFiles(join(from, "nope"), "/n"), /no built plugins in .*nope: run `npm run build`/);
    writeFileSync(join(from, "bridge"), "x");
    assert.throws(() => pluginFiles(from, "/n"), /podnet_netlink\.node is missing/);
  });
});

describe("stampShebang", () => {
  const s = (t: string) => stampShebang(Buffer.from(t), "/opt/n/bin/node").toString();
  it("replaces a Node interpreter, keeping what follows it", () => {
    assert.equal(s("#!/usr/bin/node\nx"), "#!/opt/n/bin/node\nx");
    assert.equal(s("#!/usr/bin/node --max-old-space-size=64\nx"), "#!/opt/n/bin/node --max-old-space-size=64\nx");
    assert.equal(s("#!/usr/bin/env node\nx"), "#!/opt/n/bin/node\nx");
    assert.equal(s("#!/home/u/.nvm/versions/node/v20.1.0/bin/node\nx"), "#!/opt/n/bin/node\nx");
  });
  it("leaves everything else byte for byte", () => {
    for (const t of ["#!/bin/sh\nx", "#!/usr/bin/env python3\nx", "\x7fELF", "#!/usr/bin/node", "plain"])
      assert.equal(s(t), t);
    const same = Buffer.from("#!/opt/n/bin/node\nx");
    assert.equal(stampShebang(same, "/opt/n/bin/node"), same, "already right: the same buffer");
  });
});

describe("insideEsmPackage", () => {
  it("finds the nearest package.json's type", () => {
    writeFileSync(join(from, "package.json"), JSON.stringify({ type: "module" }));
    mkdirSync(join(from, "a", "b"), { recursive: true });
    assert.equal(insideEsmPackage(join(from, "a", "b")), true);
    writeFileSync(join(from, "a", "package.json"), "{}");
    assert.equal(insideEsmPackage(join(from, "a", "b")), false);
  });
});
