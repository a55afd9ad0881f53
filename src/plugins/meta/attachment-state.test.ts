import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AttachmentStore, nodeStateFs, type AttachmentState } from "./attachment-state.js";
import { memStateFs } from "./testing.js";

const state: AttachmentState = { version: 1, network: "net1", containerID: "c1", ifName: "eth0" };

describe("attachment state files", () => {
  it("a write that fails after the temporary file was created (a full disk) leaves nothing", async () => {
    const fs = memStateFs();
    // As ENOSPC behaves: open(O_CREAT) made the file, the write failed.
    fs.writeFile = async (p) => {
      fs.files.set(p, "");
      throw Object.assign(new Error(`ENOSPC: no space left on device, write '${p}'`), { code: "ENOSPC" });
    };
    const store = new AttachmentStore(fs, "/state");
    await assert.rejects(store.write(state), /ENOSPC/);
    assert.deepEqual([...fs.files.keys()], []);
  });
  it("a state file nested too deep, or not JSON, reads as no state (DEL then reads the kernel)", async () => {
    const store = new AttachmentStore(
      memStateFs({
        "/state/net1/c1-eth0": "[".repeat(100_000) + "]".repeat(100_000),
        "/state/net1/c2-eth0": "garbage",
      }),
      "/state",
    );
    assert.equal(await store.read("net1", "c1", "eth0"), undefined);
    assert.equal(await store.read("net1", "c2", "eth0"), undefined);
  });
  it("a good one round-trips", async () => {
    const store = new AttachmentStore(memStateFs(), "/state");
    await store.write(state);
    assert.deepEqual({ ...(await store.read("net1", "c1", "eth0")) }, state);
  });
});

describe("a network's state directory", () => {
  const a = (containerID: string): AttachmentState => ({ version: 1, network: "net1", containerID, ifName: "eth0" });
  it("goes with its last attachment, not before", async () => {
    const fs = memStateFs();
    const store = new AttachmentStore(fs, "/state");
    await store.write(a("c1"));
    await store.write(a("c2"));
    assert.ok(fs.dirs.has("/state/net1"));
    await store.remove("net1", "c1", "eth0");
    assert.ok(fs.dirs.has("/state/net1"), "c2 still lives there");
    assert.deepEqual(await store.files("net1"), ["c2-eth0"]);
    await store.remove("net1", "c2", "eth0");
    assert.equal(fs.dirs.has("/state/net1"), false, "removed with the last attachment");
    await store.remove("net1", "c2", "eth0"); // again: nothing there, no error
  });
  it("a write whose directory was removed meanwhile makes it again", async () => {
    const fs = memStateFs();
    const store = new AttachmentStore(fs, "/state");
    const write = fs.writeFile;
    let raced = 0;
    // As a DEL of the network's last other attachment does between this write's mkdir and its write.
    fs.writeFile = async (p, d, o) => {
      if (raced++ === 0) {
        fs.dirs.delete("/state/net1");
        throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
      }
      return write(p, d, o);
    };
    await store.write(a("c1"));
    assert.equal(raced, 2);
    assert.deepEqual({ ...(await store.read("net1", "c1", "eth0")) }, a("c1"));
    assert.ok(fs.dirs.has("/state/net1"));
  });
});

describe("a network's state directory on disk", () => {
  it("is removed with the last state file; the data dir and other networks stay", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-t-state-"));
    try {
      const store = new AttachmentStore(nodeStateFs, dir);
      await store.write({ version: 1, network: "n1", containerID: "c1", ifName: "eth0" });
      await store.write({ version: 1, network: "n2", containerID: "c1", ifName: "eth0" });
      await store.remove("n1", "c1", "eth0");
      assert.equal(existsSync(join(dir, "n1")), false);
      assert.deepEqual(readdirSync(dir), ["n2"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
