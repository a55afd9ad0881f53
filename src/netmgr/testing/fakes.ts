// Fakes for the node manager's unit tests: a recording CNI invoker, a port opener that remembers
// what it holds, and a configurable NetworkPlugin (the fake Exec is the kernel layer's,
// src/kernel/testing.ts). Import from tests only.
import { CniCode, CniError, type AnyResult, type NetworkConfigList } from "../../cni/index.js";
import type { CachedAttachment, RuntimeConf } from "../../libcni/index.js";
import type { CniInvoker } from "../invoke/cni-invoker.js";
import type { Closeable, HostportKey, PortOpener } from "../plugins/kubenet/hostport.js";
import type { NetworkPlugin, PodNetworkStatus } from "../core/plugin.js";

export interface InvokerCall {
  readonly op: "ADD" | "CHECK" | "DEL" | "VALIDATE" | "GC";
  readonly network: string;
  readonly rt?: RuntimeConf;
}

export interface FakeInvoker extends CniInvoker {
  readonly calls: InvokerCall[];
  readonly cache: Map<string, CachedAttachment>;
  /** Result for an ADD (default: 127.0.0.1 for loopback, else the next address of 10.200.0.0/24). */
  result: (list: NetworkConfigList, rt: RuntimeConf) => AnyResult;
  /** Makes ADDs (key: network name), DELs ("DEL name") or CHECKs ("CHECK name") of a network fail. */
  fail: Map<string, CniError>;
  /** Plugin types that validation rejects as missing. */
  missing: Set<string>;
}

export function createFakeInvoker(): FakeInvoker {
  let n = 1;
  const calls: InvokerCall[] = [];
  const cache = new Map<string, CachedAttachment>();
  const key = (net: string, cid: string, ifn: string) => `${net}-${cid}-${ifn}`;
  const inv: FakeInvoker = {
    calls,
    cache,
    fail: new Map(),
    missing: new Set(),
    result: (list) =>
      list.plugins[0]?.type === "loopback"
        ? { cniVersion: "1.0.0", interfaces: [{ name: "lo" }], ips: [{ address: "127.0.0.1/8", interface: 0 }] }
        : { cniVersion: "1.0.0", ips: [{ address: `10.200.0.${++n}/24`, gateway: "10.200.0.1" }] },
    async addNetworkList(list, rt) {
      calls.push({ op: "ADD", network: list.name, rt });
      const f = inv.fail.get(list.name);
      if (f) throw f;
      const r = inv.result(list, rt);
      cache.set(key(list.name, rt.containerID, rt.ifName), {
        containerID: rt.containerID,
        network: list.name,
        ifName: rt.ifName,
        config: list.bytes,
        netns: rt.netns,
        cniArgs: (rt.args ?? []).map(([k, v]) => [k, v]),
        capabilityArgs: { ...(rt.capabilityArgs ?? {}) },
        rawResult: r as unknown as Record<string, unknown>,
      });
      return r;
    },
    async checkNetworkList(list, rt) {
      calls.push({ op: "CHECK", network: list.name, rt });
      const f = inv.fail.get(`CHECK ${list.name}`);
      if (f) throw f;
      if (!cache.has(key(list.name, rt.containerID, rt.ifName)))
        throw new CniError(CniCode.Internal, `no cached result of ${list.name}/${rt.containerID}/${rt.ifName}`);
    },
    async delNetworkList(list, rt) {
      calls.push({ op: "DEL", network: list.name, rt });
      const f = inv.fail.get(`DEL ${list.name}`);
      if (f) throw f;
      cache.delete(key(list.name, rt.containerID, rt.ifName));
    },
    async validateNetworkList(list) {
      calls.push({ op: "VALIDATE", network: list.name });
      for (const p of list.plugins)
        if (inv.missing.has(p.type))
          throw new CniError(CniCode.PluginNotAvailable, `failed to find plugin "${p.type}" in path [/fake]`);
      return [...new Set(list.plugins.flatMap((p) => p.capabilities))];
    },
    getCachedResult(list, rt) {
      const e = cache.get(key(list.name, rt.containerID, rt.ifName));
      return e?.rawResult as unknown as AnyResult | undefined;
    },
    getCachedAttachments(containerID) {
      return [...cache.values()].filter((a) => containerID === undefined || a.containerID === containerID);
    },
    async gcNetworkList(list, args) {
      calls.push({ op: "GC", network: list.name });
      const valid = new Set((args?.validAttachments ?? []).map((a) => `${a.containerID}/${a.ifname}`));
      for (const [k, a] of cache)
        if (a.network === list.name && !valid.has(`${a.containerID}/${a.ifName}`)) cache.delete(k);
    },
  };
  return inv;
}

export interface FakeOpener {
  readonly open: PortOpener;
  /** "4/tcp//8080" … currently held */
  readonly held: Set<string>;
  /** Ports that fail as if taken by someone else. */
  readonly taken: Set<number>;
}

export function createFakeOpener(): FakeOpener {
  const held = new Set<string>();
  const taken = new Set<number>();
  const k = (hp: HostportKey) => `${hp.family}/${hp.protocol}/${hp.ip}/${hp.port}`;
  return {
    held,
    taken,
    async open(hp): Promise<Closeable> {
      if (taken.has(hp.port) || held.has(k(hp)))
        throw new Error(`listen ${hp.protocol}${hp.family} ${hp.ip}:${hp.port}: bind: address already in use`);
      held.add(k(hp));
      return { close: async () => void held.delete(k(hp)) };
    },
  };
}

export interface FakePlugin extends NetworkPlugin {
  readonly calls: string[];
  readonly events: Array<[string, Readonly<Record<string, unknown>>]>;
  ready: Error | null;
  failSetUp?: Error;
  failTearDown?: Error;
  ips: Map<string, string[]>;
  /** Milliseconds each setUp waits (to test serialisation). */
  delayMs: number;
  /** Awaited at the start of each setUp/tearDown (after it is recorded in `calls`): interleavings made to order. */
  gate?: (op: "setup" | "teardown", sandboxID: string) => Promise<void> | undefined;
  /** What verifyPod reports missing, per sandbox ID (none: intact). */
  readonly broken: Map<string, string[]>;
}

/** A promise and its resolve function, for FakePlugin.gate. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export function createFakePlugin(name = "fake"): FakePlugin {
  const calls: string[] = [];
  let n = 1;
  const p: FakePlugin = {
    calls,
    events: [],
    ready: null,
    ips: new Map(),
    delayMs: 0,
    broken: new Map(),
    async init() {
      calls.push("init");
    },
    event(ev, d) {
      p.events.push([ev, d]);
    },
    name: () => name,
    capabilities: () => new Set(),
    async setUpPod(ns, nm, id) {
      calls.push(`setup ${ns}/${nm} ${id}`);
      await p.gate?.("setup", id);
      if (p.delayMs) await new Promise((r) => setTimeout(r, p.delayMs));
      calls.push(`setup-done ${ns}/${nm}`);
      if (p.failSetUp) throw p.failSetUp;
      p.ips.set(id, [`10.200.0.${++n}`]);
    },
    async tearDownPod(ns, nm, id) {
      calls.push(`teardown ${ns}/${nm} ${id}`);
      await p.gate?.("teardown", id);
      if (p.failTearDown) throw p.failTearDown;
      p.ips.delete(id);
    },
    async getPodNetworkStatus(_ns, _nm, id): Promise<PodNetworkStatus | null> {
      const ips = p.ips.get(id);
      return ips ? { ip: ips[0]!, ips } : null;
    },
    status: () => p.ready,
    async reattachPod(ns, nm, id) {
      calls.push(`reattach ${ns}/${nm} ${id}`);
    },
    async verifyPod(ns, nm, id) {
      calls.push(`verify ${ns}/${nm} ${id}`);
      return [...(p.broken.get(id) ?? [])];
    },
    async gc(live) {
      calls.push(`gc ${[...live].sort().join(",")}`);
      return [];
    },
  };
  return p;
}
