// libcni's files (conf dirs, the result cache) through the bounded reader: no content in errors,
// no unbounded read, no unbounded nesting.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CniError } from "../cni/index.js";
import { ResultCache, cacheFilePath, decodeCacheEntry } from "./cache.js";
import { loadConfFile, loadDefaultNetwork, loadNetworkConf } from "./confdir.js";

function withDir(fn: (d: string) => void): void {
  const d = mkdtempSync(join(tmpdir(), "podnet-t-libcni-in-"));
  try {
    fn(d);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

const SECRET = "root:$6$SECRETSALT$hashhash:19000:0:99999:7:::\n";

describe("conf dirs", () => {
  it("a conf file that is not JSON (a secret linked into the dir): named, with a position, never quoted", () =>
    withDir((d) => {
      writeFileSync(join(d, "shadow"), SECRET, { mode: 0o600 });
      symlinkSync(join(d, "shadow"), join(d, "00-evil.conflist"));
      writeFileSync(join(d, "10-ok.conf"), JSON.stringify({ cniVersion: "1.0.0", name: "ok", type: "bridge" }));
      const def = loadDefaultNetwork(d);
      assert.equal(def.list.name, "ok");
      assert.equal(
        def.skipped[0]?.error,
        `error parsing configuration list ${join(d, "00-evil.conflist")}: unexpected character (expected a value) at line 1, column 1 (byte 0)`,
      );
      assert.throws(
        () => loadNetworkConf(d, "ok"),
        (e: unknown) => e instanceof CniError && e.code === 6 && !/root|SECRET|hash/.test(e.message),
      );
    }));
  it("a conf file larger than 64 MiB is not read", () =>
    withDir((d) => {
      const f = join(d, "big.conf");
      writeFileSync(f, "");
      truncateSync(f, 64 * 1024 * 1024 + 1); // sparse: costs no disk
      assert.throws(
        () => loadConfFile(f),
        (e: unknown) =>
          e instanceof CniError && e.code === 5 && e.message === `cannot read ${f}: ${f} is larger than 67108864 bytes`,
      );
    }));
  it("a conf file nested 5,000,000 deep is a decoding failure naming the position", () =>
    withDir((d) => {
      const f = join(d, "deep.conflist");
      writeFileSync(f, `{"name":"n","plugins":${"[".repeat(5_000_000)}`);
      assert.throws(
        () => loadConfFile(f),
        (e: unknown) =>
          e instanceof CniError &&
          e.code === 6 &&
          /nesting deeper than 1000 levels at line 1, column 1022/.test(e.message),
      );
    }));
  it("a sibling plugin file (<dir>/<name>/*.conf) is read the same way", () =>
    withDir((d) => {
      writeFileSync(
        join(d, "10-n.conflist"),
        JSON.stringify({ cniVersion: "1.0.0", name: "n", plugins: [{ type: "bridge" }] }),
      );
      mkdirSync(join(d, "n"));
      writeFileSync(join(d, "n", "extra.conf"), SECRET);
      assert.throws(
        () => loadNetworkConf(d, "n"),
        (e: unknown) =>
          e instanceof CniError &&
          /^failed to parse plugin config .*extra.conf: .*at line 1, column 1/.test(e.message) &&
          !/root|SECRET/.test(e.message),
      );
    }));
});

describe("the result cache", () => {
  it("a cache file too deep or not JSON is no entry (never a stack overflow)", () => {
    assert.equal(
      decodeCacheEntry(`{"kind":"cniCacheV1","result":${"[".repeat(100_000)}${"]".repeat(100_000)}}`),
      undefined,
    );
    assert.equal(decodeCacheEntry(SECRET), undefined);
  });
  it("a cache file larger than 64 MiB is a decoding failure, not read", () =>
    withDir((d) => {
      const c = new ResultCache(d);
      const f = cacheFilePath(d, "n", "c1", "eth0");
      mkdirSync(join(d, "results"));
      writeFileSync(f, "");
      truncateSync(f, 64 * 1024 * 1024 + 1);
      assert.throws(
        () => c.readEntry("n", "c1", "eth0"),
        (e: unknown) => e instanceof CniError && e.code === 6 && /is larger than 67108864 bytes/.test(e.message),
      );
      assert.deepEqual(c.list(), [], "skipped when listing");
    }));
});
