// host-local's cached store on the daemons' worker threads: each worker builds its own registry
// (resident/registry.ts workerRegistry), so each keeps its own StoreCache and its own inotify
// watcher. A worker's view must stay the disk's when another worker writes the store between two
// of its calls: the other worker's reservation is seen (a second ADD for that container is
// refused), and so is its release (the container can be added again). Calls go straight to the
// pool: calls made together while every worker is free start on the workers in order, so the
// test chooses which worker runs which container. Real files in a temp dir; needs the addon.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addonInotifyOps } from "../kernel/dir-watch.js";
import { workerPluginHost } from "../netmgr/invoke/plugin-workers.js";
import type { HostResponse } from "./host.js";

const WORKERS = 3;
const IDS = ["c0", "c1", "c2"];

describe("host-local on worker threads", {
  timeout: 60_000,
  skip: addonInotifyOps() ? false : "the addon has no inotify (rebuild it: npm run install)",
}, () => {
  let dir = "";
  let host: ReturnType<typeof workerPluginHost> | undefined;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "podnet-t-hl-workers-"));
    host = workerPluginHost({ size: WORKERS, stallMs: 60_000 });
    await host.warm?.();
  });
  after(async () => {
    await host?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const conf = () =>
    JSON.stringify({
      cniVersion: "1.0.0",
      name: "net1",
      type: "bridge",
      ipam: { type: "host-local", subnet: "10.200.77.0/24", dataDir: dir },
    });
  const req = (cmd: string, id: string) => ({
    plugin: "host-local",
    cwd: "/",
    env: {
      CNI_COMMAND: cmd,
      CNI_CONTAINERID: id,
      CNI_NETNS: "/run/netns/podnet-t-none",
      CNI_IFNAME: "eth0",
      CNI_PATH: "/opt/cni/bin",
    },
    stdin: Buffer.from(conf()),
  });
  /** One call per worker, all at once: the i-th goes to worker i (every worker is free). */
  async function together(cmd: string, ids: readonly string[]): Promise<HostResponse[]> {
    assert.equal(host!.queued, 0);
    return Promise.all(ids.map((id) => host!.call(req(cmd, id))));
  }
  const rotate = (k: number) => IDS.map((_, i) => IDS[(i + k) % IDS.length]!);
  const reservations = () => readdirSync(join(dir, "net1")).filter((n) => n.startsWith("10."));
  const addressOf = (r: HostResponse) => (JSON.parse(r.stdout) as { ips: Array<{ address: string }> }).ips[0]!.address;

  it("each worker sees the others' reservations and releases made since its previous call", async () => {
    assert.equal(host!.workers, WORKERS);
    // Every worker reserves one address, and keeps the store in memory as it was when it held the lock.
    const first = await together("ADD", IDS);
    for (const r of first) assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(new Set(first.map(addressOf)).size, IDS.length, "three different addresses");
    // Each container again, on another worker: whichever order the workers took the lock in, at least
    // one of them last looked at the store before the container it now gets was reserved.
    for (const k of [1, 2]) {
      const again = await together("ADD", rotate(k));
      for (const [i, r] of again.entries()) {
        assert.equal(r.code, 1, `worker ${i} gave ${rotate(k)[i]} a second address: ${r.stdout}`);
        assert.match(r.stdout, /duplicate allocation is not allowed/);
      }
      assert.equal(reservations().length, IDS.length);
    }
    // Released on one worker, added again on another: the release is seen.
    const del = await together("DEL", rotate(1));
    for (const r of del) assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(reservations(), []);
    const readd = await together("ADD", rotate(2));
    for (const r of readd) assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(new Set(readd.map(addressOf)).size, IDS.length);
    assert.equal(reservations().length, IDS.length);
  });
});
