import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AttachmentStore, type AttachmentState } from "./attachment-state.js";
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
    const store = new AttachmentStore(memStateFs({ "/state/net1/c1-eth0": "[".repeat(100_000) + "]".repeat(100_000), "/state/net1/c2-eth0": "garbage" }), "/state");
    assert.equal(await store.read("net1", "c1", "eth0"), undefined);
    assert.equal(await store.read("net1", "c2", "eth0"), undefined);
  });
  it("a good one round-trips", async () => {
    const store = new AttachmentStore(memStateFs(), "/state");
    await store.write(state);
    assert.deepEqual({ ...(await store.read("net1", "c1", "eth0")) }, state);
  });
});
