// The runtime against small shell-script plugins in a temp dir: chaining, the cache, errors.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CniError, parseConfList } from "../cni/index.js";
import { nodeRawExec } from "../kernel/exec.js";
import { CniRuntime } from "./api.js";
import { decodeCacheEntry, encodeCacheEntry } from "./cache.js";
import { loadDefaultNetwork, loadNetworkConf } from "./confdir.js";
import { findInPath } from "./find.js";

let dir = "";
let bin = "";
let log = "";
const script = (name: string, body: string) => {
  const p = join(bin, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
};

before(() => {
  dir = mkdtempSync(join(tmpdir(), "podnet-t-libcni-"));
  bin = join(dir, "bin");
  log = join(dir, "calls.log");
  writeFileSync(log, "");
  mkdirSync(bin, { recursive: true });
  // Records each call (verb, plugin, stdin) and answers ADD with prevResult plus one IP.
  script(
    "rec",
    `in=$(cat); echo "$CNI_COMMAND $0 $CNI_CONTAINERID $CNI_IFNAME args=$CNI_ARGS $in" >> ${log}
     case "$CNI_COMMAND" in
       ADD) echo '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"'"$CNI_NETNS"'"}],"ips":[{"address":"10.200.0.2/24","interface":0}]}' ;;
       VERSION) echo '{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}' ;;
     esac`,
  );
  script("fail", `cat >/dev/null; echo '{"code":7,"msg":"bad config","details":"field x"}'; exit 1`);
  script("crash", `cat >/dev/null; echo "segfault somewhere" >&2; kill -SEGV $$`);
  script("garbage", `cat >/dev/null; echo "not json"; exit 1`);
  script("silent", `cat >/dev/null; exit 3`);
  script("hang", `exec sleep 30`);
  script("oldversion", `cat >/dev/null; echo '{"code":4,"msg":"unknown CNI_COMMAND: VERSION"}'; exit 1`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const list = (plugins: unknown[], extra: Record<string, unknown> = {}) =>
  parseConfList(JSON.stringify({ cniVersion: "1.0.0", name: "testnet", plugins, ...extra }));
const rt = {
  containerID: "ctr1",
  netns: "/var/run/netns/x",
  ifName: "eth0",
  args: [["IgnoreUnknown", "1"]] as Array<[string, string]>,
};
const runtime = (opts: Partial<ConstructorParameters<typeof CniRuntime>[0]> = {}) =>
  new CniRuntime({
    path: ["/nonexistent", bin],
    cacheDir: join(dir, "cache"),
    exec: nodeRawExec,
    sleep: async () => {},
    netnsExists: () => true,
    ...opts,
  });

describe("CniRuntime chains", () => {
  it("ADD runs plugins in order, passes prevResult, caches; DEL runs in reverse with the cached result", async () => {
    writeFileSync(log, "");
    const l = list([
      { type: "rec", tag: "a" },
      { type: "rec", tag: "b", capabilities: { portMappings: true } },
    ]);
    const r = runtime();
    const res = await r.addNetworkList(l, {
      ...rt,
      capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80 }], bandwidth: {} },
    });
    assert.deepEqual(res, {
      cniVersion: "1.0.0",
      interfaces: [{ name: "eth0", sandbox: "/var/run/netns/x" }],
      ips: [{ address: "10.200.0.2/24", interface: 0 }],
    });
    const lines = readFileSync(log, "utf8").trim().split("\n");
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^ADD .* ctr1 eth0 args=IgnoreUnknown=1 \{.*"tag":"a"/);
    assert.doesNotMatch(lines[0]!, /prevResult/, "the first plugin gets no prevResult");
    assert.match(lines[1]!, /"tag":"b".*"prevResult":\{"cniVersion":"1.0.0"/);
    assert.match(lines[1]!, /"runtimeConfig":\{"portMappings":\[\{"hostPort":8080,"containerPort":80\}\]\}/);
    const cached = decodeCacheEntry(readFileSync(join(dir, "cache", "results", "testnet-ctr1-eth0")));
    assert.equal(cached?.config.toString(), l.bytes.toString());
    // Read back as plain data (no prototypes); structuredClone makes ordinary objects to compare.
    assert.deepEqual(structuredClone(cached?.capabilityArgs), {
      portMappings: [{ hostPort: 8080, containerPort: 80 }],
      bandwidth: {},
    });

    writeFileSync(log, "");
    await r.checkNetworkList(l, rt);
    await r.delNetworkList(l, rt);
    const del = readFileSync(log, "utf8").trim().split("\n");
    assert.deepEqual(
      del.map((x) => x.split(" ")[0]),
      ["CHECK", "CHECK", "DEL", "DEL"],
    );
    assert.match(del[2]!, /"tag":"b".*"prevResult"/);
    assert.match(del[3]!, /"tag":"a".*"prevResult"/);
    assert.equal(existsSync(join(dir, "cache", "results", "testnet-ctr1-eth0")), false, "cache entry removed");
  });

  it("a failed ADD caches nothing and names the plugin", async () => {
    const l = list([{ type: "rec" }, { type: "fail" }]);
    await assert.rejects(runtime().addNetworkList(l, { ...rt, containerID: "ctr2" }), (e: CniError) => {
      assert.equal(e.code, 7);
      assert.equal(e.message, 'plugin type="fail" name="testnet" failed (add): bad config');
      assert.equal(e.details, "field x");
      return true;
    });
    assert.equal(existsSync(join(dir, "cache", "results", "testnet-ctr2-eth0")), false);
  });

  const failures: Array<[string, RegExp, number]> = [
    ["crash", /netplugin failed: "segfault somewhere": signal: SIGSEGV/, 999],
    ["garbage", /error parsing its diagnostic message "not json"/, 6],
    ["silent", /netplugin failed with no error message: exit status 3/, 999],
    ["missing", /failed to find plugin "missing" in path \[\/nonexistent .*\/bin\]/, 50],
  ];
  for (const [type, re, code] of failures) {
    it(`a plugin that is ${type} gives code ${code}`, async () => {
      await assert.rejects(
        runtime().addNetworkList(list([{ type }]), rt),
        (e: CniError) => e.code === code && re.test(e.message),
      );
    });
  }
  it("a plugin that hangs is killed after the timeout", async () => {
    const t0 = Date.now();
    await assert.rejects(
      runtime({ timeoutMs: 300 }).addNetworkList(list([{ type: "hang" }]), rt),
      /timed out after 300 ms/,
    );
    assert.ok(Date.now() - t0 < 5000);
  });
  it("a netns that does not exist is code 3, before any plugin runs", async () => {
    await assert.rejects(
      runtime({ netnsExists: undefined }).addNetworkList(list([{ type: "fail" }]), {
        ...rt,
        netns: "/run/netns/podnet-t-nope",
      }),
      (e: CniError) => e.code === 3 && /"\/run\/netns\/podnet-t-nope" does not exist/.test(e.message),
    );
  });
  it("validates identifiers before running anything", async () => {
    await assert.rejects(
      runtime().addNetworkList(list([{ type: "rec" }]), { ...rt, ifName: "a/b" }),
      (e: CniError) => e.code === 4,
    );
  });
  it("CHECK is refused below 0.4.0 and skipped with disableCheck", async () => {
    const r = runtime();
    await assert.rejects(
      r.checkNetworkList(list([{ type: "fail" }], { cniVersion: "0.3.1" }), rt),
      /does not support the CHECK command/,
    );
    await r.checkNetworkList(list([{ type: "fail" }], { disableCheck: true }), rt);
  });
  it("GC deletes stale cached attachments and sends both attachment keys", async () => {
    writeFileSync(log, "");
    const l = list([{ type: "rec" }], { cniVersion: "1.1.0" });
    const r = runtime({ cacheDir: join(dir, "gc-cache") });
    await r.addNetworkList(l, { ...rt, containerID: "keep" });
    await r.addNetworkList(l, { ...rt, containerID: "stale" });
    writeFileSync(log, "");
    await r.gcNetworkList(l, { validAttachments: [{ containerID: "keep", ifname: "eth0" }] });
    const lines = readFileSync(log, "utf8").trim().split("\n");
    assert.match(lines[0]!, /^DEL .* stale eth0/);
    assert.match(lines[1]!, /^GC /);
    const gcReq = JSON.parse(lines[1]!.slice(lines[1]!.indexOf("{"))) as Record<string, unknown>;
    assert.deepEqual(gcReq["cni.dev/valid-attachments"], [{ containerID: "keep", ifname: "eth0" }]);
    assert.deepEqual(gcReq["cni.dev/attachments"], [{ containerID: "keep", ifname: "eth0" }]);
    assert.deepEqual(
      r.getCachedAttachments().map((a) => a.containerID),
      ["keep"],
    );
  });
  it("GC plans its DELs (staleAttachments) and reports each DEL and each plugin's GC", async () => {
    const l = list([{ type: "rec" }, { type: "fail" }], { cniVersion: "1.1.0" });
    const ok = list([{ type: "rec" }], { cniVersion: "1.1.0" });
    const r = runtime({ cacheDir: join(dir, "gc-report") });
    for (const id of ["a", "b", "c"]) await r.addNetworkList(ok, { ...rt, containerID: id });
    const valid = [{ containerID: "b", ifname: "eth0" }];
    assert.deepEqual(
      r.staleAttachments(ok, valid).map((a) => a.containerID),
      ["a", "c"],
    );
    assert.deepEqual(
      r.staleAttachments(ok, [{ containerID: "b", ifname: "eth1" }]).map((a) => a.containerID),
      ["a", "b", "c"],
      "the ifname counts",
    );
    const deleted: string[] = [];
    const gced: string[] = [];
    await r.gcNetworkList(ok, {
      validAttachments: valid,
      onDeleted: (a) => deleted.push(`${a.containerID}/${a.ifName}`),
      onPluginGc: (t, e) => gced.push(`${t}:${e ? "failed" : "ok"}`),
    });
    assert.deepEqual(deleted, ["a/eth0", "c/eth0"]);
    assert.deepEqual(gced, ["rec:ok"]);
    assert.deepEqual(
      r.getCachedAttachments().map((a) => a.containerID),
      ["b"],
    );
    // a failing plugin's GC is reported and the error still thrown
    gced.length = 0;
    await assert.rejects(
      r.gcNetworkList(l, { validAttachments: valid, onPluginGc: (t, e) => gced.push(`${t}:${e ? "failed" : "ok"}`) }),
      /failed to GC plugin fail/,
    );
    assert.deepEqual(gced, ["rec:ok", "fail:failed"]);
  });
  it("VERSION probing, with the fallback for plugins that predate it", async () => {
    const r = runtime();
    assert.deepEqual(await r.getVersionInfo("rec"), {
      cniVersion: "1.1.0",
      supportedVersions: ["0.4.0", "1.0.0", "1.1.0"],
    });
    assert.deepEqual(await r.getVersionInfo("oldversion"), { cniVersion: "0.1.0", supportedVersions: ["0.1.0"] });
    assert.deepEqual(await r.validateNetworkList(list([{ type: "rec", capabilities: { ips: true } }])), ["ips"]);
    await assert.rejects(
      r.validateNetworkList(list([{ type: "rec" }], { cniVersion: "0.3.1" })),
      /plugin rec does not support config version "0.3.1"/,
    );
  });
});

describe("result cache format (Go libcni cniCacheV1)", () => {
  it("writes Go's field order, sorted maps, base64 config, omitted empties", () => {
    const bytes = encodeCacheEntry({
      containerID: "c1",
      network: "net",
      ifName: "eth0",
      config: Buffer.from('{"a":1}'),
      netns: "/var/run/netns/x",
      cniArgs: [["K8S_POD_NAME", "p<1>"]],
      capabilityArgs: { portMappings: [{ hostPort: 80, containerPort: 8080, protocol: "tcp" }] },
      rawResult: { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24" }], dns: {} },
    });
    assert.equal(
      bytes,
      '{"kind":"cniCacheV1","containerId":"c1","config":"eyJhIjoxfQ==","ifName":"eth0","networkName":"net","netns":"/var/run/netns/x",' +
        '"cniArgs":[["K8S_POD_NAME","p\\u003c1\\u003e"]],"capabilityArgs":{"portMappings":[{"containerPort":8080,"hostPort":80,"protocol":"tcp"}]},' +
        '"result":{"cniVersion":"1.0.0","dns":{},"ips":[{"address":"10.0.0.2/24"}]}}',
    );
    const back = decodeCacheEntry(bytes);
    assert.equal(back?.cniArgs[0]?.[1], "p<1>");
    const bare = encodeCacheEntry({
      containerID: "c",
      network: "n",
      ifName: "i",
      config: Buffer.alloc(0),
      netns: "",
      cniArgs: [],
      capabilityArgs: {},
    });
    assert.equal(bare, '{"kind":"cniCacheV1","containerId":"c","config":"","ifName":"i","networkName":"n"}');
  });
});

describe("conf dir loading", () => {
  it("the first valid file in lexicographic order is the default; invalid ones are skipped", () => {
    const d = join(dir, "net.d");
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, "00-broken.conflist"), "{");
    writeFileSync(join(d, "10-b.conf"), JSON.stringify({ cniVersion: "0.4.0", name: "bnet", type: "bridge" }));
    writeFileSync(
      join(d, "20-a.conflist"),
      JSON.stringify({ cniVersion: "1.0.0", name: "anet", plugins: [{ type: "bridge" }] }),
    );
    writeFileSync(join(d, "05-ignored.txt"), "x");
    const def = loadDefaultNetwork(d);
    assert.equal(def.list.name, "bnet");
    assert.equal(def.skipped.length, 1);
    assert.match(def.skipped[0]!.file, /00-broken.conflist$/);
    assert.throws(
      () => loadNetworkConf(d, "anet"),
      /error parsing configuration list/,
      "libcni aborts on a broken file",
    );
    rmSync(join(d, "00-broken.conflist"));
    assert.equal(loadNetworkConf(d, "anet").cniVersion, "1.0.0");
    assert.equal(loadNetworkConf(d, "bnet").plugins[0]?.type, "bridge");
    assert.throws(() => loadNetworkConf(d, "zzz"), /no net configuration with name "zzz"/);
    assert.throws(() => loadDefaultNetwork(join(dir, "none")), /no valid networks found/);
  });
  it("findInPath takes the first regular file", () => {
    assert.equal(findInPath("rec", ["/nonexistent", bin, bin]), join(bin, "rec"));
    assert.throws(() => findInPath("a/b", [bin]), /invalid plugin name/);
    assert.throws(() => findInPath("x", []), /no paths provided/);
  });
});
