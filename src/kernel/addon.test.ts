import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ADDON_FILE, addonCandidates, loadAddon } from "./addon.js";

describe("addon loader", () => {
  it("tries $PODNET_ADDON first, then next to the script, then native/build/Release upwards", () => {
    const c = addonCandidates({ PODNET_ADDON: "/opt/x/podnet_netlink.node" });
    assert.equal(c[0], "/opt/x/podnet_netlink.node");
    assert.ok(c.some((p) => p.endsWith(`/native/build/Release/${ADDON_FILE}`)));
    assert.equal(new Set(c).size, c.length);
  });

  it("loads the built addon with its functions", () => {
    const a = loadAddon();
    for (const f of ["nlOpen", "nlSend", "nlRecv", "close", "sysctlRead", "sysctlWrite", "flock"] as const) {
      assert.equal(typeof a[f], "function", f);
    }
    assert.equal(a.LOCK_EX, 2);
  });

  it("throws Node-style errors: .code is the errno name, .errno the number", () => {
    const a = loadAddon();
    assert.throws(
      () => a.nlOpen("/nonexistent/netns", 0),
      (e: NodeJS.ErrnoException) => {
        assert.equal(e.code, "ENOENT");
        assert.equal(e.errno, 2);
        assert.match(e.message, /\/nonexistent\/netns/);
        return true;
      },
    );
    assert.throws(
      () => a.close(-1),
      (e: NodeJS.ErrnoException) => e.code === "EBADF",
    );
  });
});
