// Applying an IPAM result to the container interface (Go's pkg/ipam ConfigureIface): addresses,
// link up, IPv6 DAD settling, routes. Runs through the kernel layer bound to the container netns.
import { CniCode, CniError, type Result } from "../../../cni/index.js";
import { ipFamily } from "../../../ip/index.js";
import { isExist } from "../../../kernel/errors.js";
import type { Kernel, RouteSpec, Scope } from "../../../kernel/types.js";

export interface ConfigureDeps {
  readonly kernel: Kernel;
  readonly sleep: (ms: number) => Promise<void>;
  readonly log?: (msg: string) => void;
}

const DAD_POLL_MS = 50;
const DAD_TIMEOUT_MS = 5000;

const fail = (msg: string, e?: unknown) =>
  new CniError(
    CniCode.Internal,
    e === undefined ? msg : `${msg}: ${(e as Error)?.message ?? String(e)}`,
    e === undefined ? {} : { cause: e },
  );

/** `ip` of "ip/len" */
const hostOf = (cidr: string) => cidr.split("/")[0] ?? cidr;

export async function configureIface(deps: ConfigureDeps, netns: string, ifName: string, res: Result): Promise<void> {
  const interfaces = res.interfaces ?? [];
  if (interfaces.length === 0) throw fail("no interfaces to configure");
  const ops = deps.kernel.netns(netns);
  const link = await ops.linkGet(ifName);
  if (!link) throw fail(`failed to lookup "${ifName}"`);

  let v4gw: string | undefined;
  let v6gw: string | undefined;
  let ipv6Enabled = false;
  for (const ipc of res.ips ?? []) {
    if (ipc.interface === undefined) continue;
    const idx = ipc.interface;
    if (idx < 0 || idx >= interfaces.length || interfaces[idx]!.name !== ifName) {
      throw fail(`failed to add IP addr ${ipc.address} to "${ifName}": invalid interface index`);
    }
    const fam = ipFamily(ipc.address);
    if (fam === 6 && !ipv6Enabled) {
      // Make sure IPv6 is on for lo and the interface before the first IPv6 address.
      for (const dev of ["lo", ifName]) {
        const key = `net/ipv6/conf/${dev}/disable_ipv6`;
        let value: string;
        try {
          value = (await deps.kernel.sysctl.read(netns, key)).trim();
        } catch (e) {
          deps.log?.(`ipam: failed to read sysctl "${key}": ${(e as Error).message}\n`);
          continue;
        }
        if (value === "0") continue;
        try {
          await deps.kernel.sysctl.write(netns, key, "0");
        } catch (e) {
          throw fail(`failed to enable IPv6 for interface "${dev}" (${key}=${value})`, e);
        }
      }
      try {
        await deps.kernel.sysctl.write(netns, `net/ipv6/conf/${ifName}/keep_addr_on_down`, "1");
      } catch (e) {
        throw fail(`failed to set net/ipv6/conf/${ifName}/keep_addr_on_down`, e);
      }
      ipv6Enabled = true;
    }
    try {
      await ops.addrAdd(ifName, ipc.address);
    } catch (e) {
      throw fail(`failed to add IP addr ${ipc.address} to "${ifName}"`, e);
    }
    if (ipc.gateway) {
      if (ipFamily(ipc.gateway) === 4) v4gw ??= ipc.gateway;
      else v6gw ??= ipc.gateway;
    }
  }

  try {
    await ops.linkSetUp(ifName);
  } catch (e) {
    throw fail(`failed to set "${ifName}" UP`, e);
  }

  if (v6gw) await settleAddresses(deps, netns, ifName);

  for (const r of res.routes ?? []) {
    const fam = ipFamily(r.dst);
    const gw = r.gw ?? (fam === 4 ? v4gw : v6gw);
    const spec: RouteSpec = {
      dst: r.dst,
      dev: ifName,
      ...(gw ? { gw } : {}),
      ...(r.priority !== undefined ? { metric: r.priority } : {}),
      ...(r.table !== undefined ? { table: r.table } : {}),
      ...(r.scope !== undefined ? { scope: r.scope as Scope } : {}),
    };
    try {
      await ops.routeAdd(spec);
    } catch (e) {
      if (isExist(e)) continue; // append semantics: the route is there already
      throw fail(
        `failed to add route '${r.dst} via ${gw ?? "<nil>"} dev ${ifName} metric ${r.priority ?? 0} (Scope: ${r.scope ?? 0}, Table: ${r.table ?? 0})'`,
        e,
      );
    }
  }
}

/** Waits for IPv6 DAD on `ifName` to finish (Go's ip.SettleAddresses). */
async function settleAddresses(deps: ConfigureDeps, netns: string, ifName: string): Promise<void> {
  const ops = deps.kernel.netns(netns);
  for (let waited = 0; ; waited += DAD_POLL_MS) {
    const addrs = (await ops.addrList(ifName, 6)).filter((a) => a.scope !== "link" && a.scope !== "host");
    const failed = addrs.find((a) => a.dadFailed);
    if (failed) throw fail(`failed to add IP addr ${failed.cidr} to "${ifName}": DAD failed (duplicate address)`);
    const tentative = addrs.find((a) => a.tentative);
    if (!tentative) return;
    if (waited >= DAD_TIMEOUT_MS) {
      const link = await ops.linkGet(ifName);
      if (link?.operstate === "up")
        throw fail(
          `link ${ifName} still has tentative address ${hostOf(tentative.cidr)} after ${DAD_TIMEOUT_MS / 1000} seconds`,
        );
      return;
    }
    await deps.sleep(DAD_POLL_MS);
  }
}
