// The pod lifecycle of `podnet node --network-plugin=kubenet` (Debian's Go plugins) against races
// and crashes: concurrent POST and DELETE of one pod leave no zombie; a netns that is another pod's
// or the node's is refused before anything is touched; a daemon killed (SIGKILL) in the middle of a
// teardown, or restarted after a pod's eth0 was deleted behind its back, never reports "ready" a pod
// whose interface, lease, hostport DNAT or shaping is missing.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GO_PLUGINS, haveRoot, inNs, sh, withSandbox, type Sandbox } from "./sandbox.js";
import { deleteDaemonNetns, startDaemon, type NodeDaemon } from "../../src/netmgr/testing/daemon.js";
import type { ApiError } from "../../src/netmgr/daemon/api-client.js";

const skip = haveRoot() ? false : "needs root (network namespaces)";

const POD_CIDR = "10.200.7.0/24";
const args = (binDir = GO_PLUGINS) => [
  "--network-plugin=kubenet",
  `--kubenet-bin-dir=${binDir}`,
  `--cni-bin-dir=${GO_PLUGINS}`,
  `--pod-cidr=${POD_CIDR}`,
];
const WEB = {
  metadata: { name: "web", annotations: { "kubernetes.io/ingress-bandwidth": "5M" } },
  spec: { containers: [{ name: "nginx", ports: [{ containerPort: 80, hostPort: 8080 }] }] },
};
const nsName = (path: string) => path.replace("/run/netns/", "");

/** host-local's leases in the daemon's IPAM dir: ip → the sandbox holding it. */
function leases(sb: Sandbox): Map<string, string> {
  const d = join(sb.dir, "n", "ipam", "kubenet");
  const out = new Map<string, string>();
  if (!existsSync(d)) return out;
  for (const f of readdirSync(d))
    if (/^[0-9a-f.:]+$/.test(f) && /[.:]/.test(f)) out.set(f, readFileSync(join(d, f), "utf8").split(/\r?\n/)[0]!);
  return out;
}

const hex = (ip: string) =>
  ip
    .split(".")
    .map((o) => Number(o).toString(16).padStart(2, "0"))
    .join("");

/**
 * What the API says is what the node has: every "ready" pod has eth0 with its address in its
 * netns, its lease, a DNAT per hostPort and a tc filter when it has an ingress limit — and nothing
 * else on the node holds a lease, a DNAT or a filter.
 */
async function assertTruthful(sb: Sandbox, d: NodeDaemon): Promise<void> {
  const pods = await d.client.listPods();
  const ready = pods.filter((p) => p.phase === "ready" && !p.hostNetwork);
  for (const p of ready) {
    const ns = nsName(p.netns);
    const eth0 = inNs(ns, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
    assert.equal(eth0.status, 0, `pod ${p.name} is listed ready, but its netns has no eth0: ${eth0.out}`);
    assert.match(
      eth0.out,
      new RegExp(`inet ${p.ips[0]!.replace(/\./g, "\\.")}/`),
      `pod ${p.name}: eth0 has its address`,
    );
  }
  const l = leases(sb);
  assert.deepEqual(
    [...l.keys()].sort(),
    ready.flatMap((p) => p.ips).sort(),
    "leases are held by the ready pods, and only by them",
  );
  for (const p of ready) assert.equal(l.get(p.ips[0]!), p.sandboxID, `pod ${p.name}'s lease is its sandbox's`);
  const nat = inNs(sb.node, ["iptables-save", "-t", "nat"]).out;
  const dnat = [...nat.matchAll(/^-A KUBE-HP-\S+ .*-j DNAT --to-destination (\S+)/gm)].map((m) => m[1]).sort();
  assert.deepEqual(
    dnat,
    ready.flatMap((p) => p.hostPorts.map((h) => `${p.ips[0]}:${h.containerPort}`)).sort(),
    "a DNAT per hostPort of a ready pod, and no other",
  );
  const filters = inNs(sb.node, ["tc", "filter", "show", "dev", "cbr0"]).out;
  const shaped = [...filters.matchAll(/match ([0-9a-f]{8})\/ffffffff at 16/g)].map((m) => m[1]).sort();
  assert.deepEqual(
    shaped,
    ready
      .filter((p) => p.bandwidth.ingress !== undefined)
      .map((p) => hex(p.ips[0]!))
      .sort(),
    "a tc filter per limited ready pod, and no other",
  );
}

async function kill9(d: NodeDaemon): Promise<void> {
  const exited = new Promise((r) => d.child.once("exit", r));
  process.kill(d.child.pid!, "SIGKILL");
  await exited;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("podnet node: the pod lifecycle under races and crashes", { skip }, () => {
  it("20 rounds of concurrent POST and DELETE of one pod: never a zombie, the hostPort always released", () =>
    withSandbox(async (sb) => {
      const dir = join(sb.dir, "n");
      const d = await startDaemon({ netns: sb.node, dir, args: args() });
      try {
        for (let round = 0; round < 20; round++) {
          const add = d.client.addPod(WEB).then(
            () => "created",
            (e: ApiError) => `add ${e.status}`,
          );
          await sleep((round % 5) * 15); // the DELETE lands at different points of the set-up
          const del = d.client.deletePod("default", "web").then(
            () => "deleted",
            (e: ApiError) => `delete ${e.status}`,
          );
          const outcome = await Promise.all([add, del]);
          assert.ok(
            ["created", "add 409"].includes(outcome[0]) && ["deleted", "delete 404"].includes(outcome[1]),
            `round ${round}: ${outcome}`,
          );
          await assertTruthful(sb, d);
          const left = await d.client.listPods();
          assert.ok(
            left.every((p) => p.phase === "ready"),
            `round ${round}: ${JSON.stringify(left)}`,
          );
          if (left.length) await d.client.deletePod("default", "web");
          await assertTruthful(sb, d);
        }
        // the hostPort is free: another pod takes it
        const other = await d.client.addPod({ ...WEB, metadata: { name: "other" } });
        assert.equal(other.phase, "ready");
        await d.client.deletePod("default", "other");
        assert.deepEqual(await d.client.listPods(), []);
        await assertTruthful(sb, d);
      } finally {
        await d.stop();
        deleteDaemonNetns(join(dir, "state"));
      }
    }));

  it("a netns that is another pod's (under another path) or the node's own is refused with 409; the victim keeps its eth0", () =>
    withSandbox(async (sb) => {
      const dir = join(sb.dir, "n");
      const d = await startDaemon({ netns: sb.node, dir, args: args() });
      // a process inside pod a's netns: /proc/PID/ns/net names a's netns by another path
      let holder: ReturnType<typeof spawn> | undefined;
      try {
        const a = await d.client.addPod({ metadata: { name: "a" }, spec: { containers: [{ name: "c" }] } });
        holder = spawn("nsenter", [`--net=${a.netns}`, "sleep", "60"], { stdio: "ignore" });
        const alias = `/proc/${holder.pid}/ns/net`;
        for (let i = 0; i < 200 && readlinkSync(alias) === readlinkSync("/proc/self/ns/net"); i++) await sleep(5);
        await assert.rejects(
          d.client.addPod({ metadata: { name: "b" }, spec: { containers: [{ name: "c" }] } }, alias),
          (e: ApiError) =>
            e.status === 409 &&
            e.message ===
              `netns: ${JSON.stringify(alias)} is the network namespace of pod "default/a" (sandbox ${a.sandboxID.slice(0, 12)})`,
        );
        await assert.rejects(
          d.client.addPod({ metadata: { name: "c" }, spec: { containers: [{ name: "c" }] } }, sb.path(sb.node)),
          (e: ApiError) =>
            e.status === 409 &&
            e.message === `netns: ${JSON.stringify(sb.path(sb.node))} is the node's own network namespace`,
        );
        assert.deepEqual(
          (await d.client.listPods()).map((p) => p.name),
          ["a"],
        );
        const eth0 = inNs(nsName(a.netns), ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
        assert.equal(eth0.status, 0, `pod a's eth0 is still there: ${eth0.out}`);
        assert.equal(
          inNs(nsName(a.netns), ["ping", "-c1", "-W2", POD_CIDR.replace(/0\/24$/, "1")]).status,
          0,
          "pod a still reaches its gateway",
        );
        await assertTruthful(sb, d);
      } finally {
        if (holder?.pid !== undefined && holder.exitCode === null) process.kill(holder.pid, "SIGKILL");
        await d.stop();
        deleteDaemonNetns(join(dir, "state"));
      }
    }));

  for (const when of ["after", "before"] as const) {
    it(`SIGKILL while the bridge DEL hangs (${when} deleting eth0 and the lease): the restarted daemon finishes the teardown`, () =>
      withSandbox(async (sb) => {
        // kubenet's plugin dir: Go's host-local and loopback, and a bridge whose first DEL hangs
        // (its pid in `hung`) after — or before — doing the real DEL
        const bin = join(sb.dir, "bin");
        const hung = join(sb.dir, "hung");
        sh("mkdir", ["-p", bin]);
        for (const p of ["host-local", "loopback"]) symlinkSync(join(GO_PLUGINS, p), join(bin, p));
        writeFileSync(
          join(bin, "bridge"),
          [
            "#!/bin/sh",
            `if [ "$CNI_COMMAND" = DEL ] && [ ! -e ${hung} ]; then`,
            "  input=$(cat)",
            when === "after" ? `  printf '%s' "$input" | ${GO_PLUGINS}/bridge >/dev/null` : "  :",
            `  echo $$ > ${hung}.tmp && mv ${hung}.tmp ${hung}`,
            "  exec sleep 120",
            "fi",
            `exec ${GO_PLUGINS}/bridge`,
            "",
          ].join("\n"),
        );
        chmodSync(join(bin, "bridge"), 0o755);
        const dir = join(sb.dir, "n");
        let d = await startDaemon({ netns: sb.node, dir, args: args(bin) });
        try {
          const web = await d.client.addPod(WEB);
          const db = await d.client.addPod({ metadata: { name: "db" }, spec: { containers: [{ name: "c" }] } });
          await assertTruthful(sb, d);
          const del = d.client.deletePod("default", "web").catch(() => undefined);
          for (let i = 0; i < 1000 && !existsSync(hung); i++) await sleep(10);
          assert.ok(existsSync(hung), "the bridge DEL started");
          assert.deepEqual(
            (await d.client.listPods()).map((p) => [p.name, p.phase]),
            [
              ["db", "ready"],
              ["web", "tearing-down"],
            ],
          );
          await kill9(d);
          await del;

          d = await startDaemon({ netns: sb.node, dir, args: args(bin) });
          assert.deepEqual(
            (await d.client.listPods()).map((p) => [p.name, p.phase]),
            [["db", "ready"]],
            "web's teardown was finished",
          );
          assert.match(d.log(), /"tornDown":\["default\/web"\]/);
          await assertTruthful(sb, d);
          assert.equal(existsSync(web.netns), false, "web's netns is gone");
          assert.doesNotMatch(
            inNs(sb.node, ["tc", "class", "show", "dev", "cbr0"]).out,
            /class/,
            "no shaping class is left",
          );
          await d.client.deletePod("default", "db");
          assert.equal(existsSync(db.netns), false);
          await assertTruthful(sb, d);
        } finally {
          if (existsSync(hung)) {
            try {
              process.kill(Number(readFileSync(hung, "utf8")), "SIGKILL");
            } catch {
              // already gone
            }
          }
          await d.stop();
          deleteDaemonNetns(join(dir, "state"));
        }
      }));
  }

  it("a pod whose eth0 was deleted behind the daemon's back is not reported ready with it missing: the restart sets it up again", () =>
    withSandbox(async (sb) => {
      const dir = join(sb.dir, "n");
      let d = await startDaemon({ netns: sb.node, dir, args: args() });
      try {
        const web = await d.client.addPod(WEB);
        const db = await d.client.addPod({ metadata: { name: "db" }, spec: { containers: [{ name: "c" }] } });
        assert.equal(await d.stop(), 0);
        sh("ip", ["-n", nsName(web.netns), "link", "del", "eth0"]);
        d = await startDaemon({ netns: sb.node, dir, args: args() });
        assert.match(d.log(), /"reattached":\["default\/db"\].*"repaired":\["default\/web"\]/);
        const pods = await d.client.listPods();
        assert.deepEqual(
          pods.map((p) => [p.name, p.phase, p.sandboxID, p.netns]),
          [
            ["db", "ready", db.sandboxID, db.netns],
            ["web", "ready", web.sandboxID, web.netns],
          ],
          "same sandbox, same netns",
        );
        await assertTruthful(sb, d);
        assert.equal(inNs(nsName(web.netns), ["ping", "-c1", "-W2", db.ips[0]!]).status, 0, "web reaches db again");
        await d.client.deletePod("default", "web");
        await d.client.deletePod("default", "db");
        await assertTruthful(sb, d);
      } finally {
        await d.stop();
        deleteDaemonNetns(join(dir, "state"));
      }
    }));
});
