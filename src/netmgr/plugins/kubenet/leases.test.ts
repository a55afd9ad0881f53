import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { leasedIPs, readLeases, type LeaseFs } from "./leases.js";

const fsOf = (files: Record<string, string>): LeaseFs => ({
  list(dir) {
    const names = Object.keys(files)
      .filter((p) => p.startsWith(`${dir}/`))
      .map((p) => p.slice(dir.length + 1));
    if (names.length === 0) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
    return names;
  },
  readFile(p) {
    const v = files[p];
    if (v === undefined) throw new Error("ENOENT");
    return v;
  },
});

describe("host-local's leases of the kubenet network", () => {
  const fs = fsOf({
    "/ipam/kubenet/fd00:200::2": "sb1\r\neth0",
    "/ipam/kubenet/10.200.0.2": "sb1\r\neth0",
    "/ipam/kubenet/10.200.0.3": "sb2",
    "/ipam/kubenet/10.200.0.4": "sb1\r\nnet1",
    "/ipam/kubenet/last_reserved_ip.0": "10.200.0.4",
    "/ipam/kubenet/lock": "",
  });

  it("reads one lease per address file (the interface defaults to eth0); other files are not leases", () => {
    assert.deepEqual(
      readLeases(fs, "/ipam").sort((a, b) => a.ip.localeCompare(b.ip)),
      [
        { ip: "10.200.0.2", containerID: "sb1", ifName: "eth0" },
        { ip: "10.200.0.3", containerID: "sb2", ifName: "eth0" },
        { ip: "10.200.0.4", containerID: "sb1", ifName: "net1" },
        { ip: "fd00:200::2", containerID: "sb1", ifName: "eth0" },
      ],
    );
    assert.deepEqual(readLeases(fs, "/nowhere"), []);
  });

  it("a sandbox's eth0 addresses, IPv4 first", () => {
    assert.deepEqual(leasedIPs(readLeases(fs, "/ipam"), "sb1"), ["10.200.0.2", "fd00:200::2"]);
    assert.deepEqual(leasedIPs(readLeases(fs, "/ipam"), "sb9"), []);
  });
});
