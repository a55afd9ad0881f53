// Test doubles for the bridge plugin: the kernel layer's fake Exec scripted for iptables/nft, a recording IPAM and
// a fake kernel with a host and a pod netns. Imported by *.test.ts files only.
import type { Result } from "../../../cni/index.js";
import { createFakeKernel, type FakeKernel } from "../../../kernel/fake.js";
import { createFakeExec, type FakeExec } from "../../../kernel/testing.js";
import type { CmdArgs } from "../../../sdk/types.js";
import type { BridgeDeps } from "./bridge.js";
import type { Ipam } from "./ipam.js";
import type { PortOps } from "./port.js";

export const HOST = "/run/netns/podnet-t-host";
export const POD = "/run/netns/podnet-t-pod";

/**
 * The kernel layer's fake Exec, answering what bridge runs: `iptables-save -t nat` /
 * `ip6tables-save -t nat` print `save`, `nft -j list …` prints `nftList` (undefined: the object
 * does not exist, exit 1), commands matching `failOn` fail with exit 1; anything else succeeds
 * with no output. `missing` (binaries not installed) and `on` are the fake's own.
 */
export interface BridgeExec extends FakeExec {
  /** Output of `iptables-save -t nat` / `ip6tables-save -t nat`. */
  save: { 4: string; 6: string };
  /** Output of `nft -j list …` (undefined: the object does not exist, exit 1). */
  nftList: string | undefined;
  /** Commands (joined with spaces) matching this fail with exit 1. */
  failOn: RegExp | undefined;
}

export function fakeExec(): BridgeExec {
  const self: BridgeExec = Object.assign(createFakeExec(), {
    save: { 4: "", 6: "" },
    nftList: undefined,
    failOn: undefined,
  });
  self.on("", (argv) => {
    const cmd = argv.join(" ");
    if (self.failOn?.test(cmd)) return { code: 1, stderr: `${argv[0]}: injected failure` };
    if (cmd === "iptables-save -t nat") return self.save[4];
    if (cmd === "ip6tables-save -t nat") return self.save[6];
    if (argv[0] === "nft" && argv[1] === "-j" && argv[2] === "list")
      return self.nftList ?? { code: 1, stderr: "Error: No such file or directory" };
    return "";
  });
  return self;
}

export interface FakeIpam extends Ipam {
  readonly calls: Array<{ verb: string; type: string; containerID: string; ifName: string }>;
  /** What ADD returns (default: 10.200.0.N/24 via .1). */
  next: Result | undefined;
  failOn: Set<string>;
}

export function fakeIpam(): FakeIpam {
  let n = 1;
  const rec = (verb: string) => async (type: string, a: CmdArgs) => {
    self.calls.push({ verb, type, containerID: a.containerID, ifName: a.ifName });
    if (self.failOn.has(verb)) throw new Error(`ipam ${verb} failed`);
  };
  const self: FakeIpam = {
    calls: [],
    next: undefined,
    failOn: new Set(),
    async add(type, a) {
      await rec("ADD")(type, a);
      n++;
      return structuredClone(
        self.next ?? {
          cniVersion: "1.1.0",
          ips: [{ address: `10.200.0.${n}/24`, gateway: "10.200.0.1" }],
          routes: [{ dst: "0.0.0.0/0" }],
        },
      );
    },
    del: rec("DEL"),
    check: rec("CHECK"),
    status: rec("STATUS"),
    gc: rec("GC"),
  };
  return self;
}

export interface FakePort extends PortOps {
  readonly calls: string[];
}

/** Port operations over the fake kernel's state of `netns`. */
export function fakePort(kernel: FakeKernel, netns: string): FakePort {
  const self: FakePort = {
    calls: [],
    async vlanList(dev) {
      self.calls.push(`vlan show ${dev}`);
      return [...(kernel.state(netns).links.get(dev)?.vlans.keys() ?? [])];
    },
    async setIsolated(dev, on) {
      self.calls.push(`isolated ${dev} ${on ? "on" : "off"}`);
    },
  };
  return self;
}

export interface Harness {
  readonly kernel: FakeKernel;
  readonly exec: BridgeExec;
  readonly ipam: FakeIpam;
  readonly port: FakePort;
  readonly deps: BridgeDeps;
  readonly logs: string[];
}

/** A fake kernel with HOST and POD namespaces and deterministic veth names (vethaaaaaa01, …). */
export function harness(): Harness {
  const kernel = createFakeKernel({ netns: [HOST, POD] });
  const exec = fakeExec();
  const ipam = fakeIpam();
  const port = fakePort(kernel, HOST);
  const logs: string[] = [];
  let r = 0;
  const deps: BridgeDeps = {
    kernel,
    exec,
    ipam,
    port,
    hostNetns: HOST,
    sleep: async () => {},
    randomBytes: (k) => Buffer.from([0xaa, 0xaa, 0xaa, ++r].slice(0, k)),
    log: (m) => void logs.push(m),
  };
  return { kernel, exec, ipam, port, deps, logs };
}
