// An in-memory TcNetlink with the kernel's rules that callers depend on: handles are unique
// (EEXIST), deleting what is not there is ENOENT, a class with a filter pointing at it is EBUSY,
// unknown devices are ENODEV; u32 filters get handles <htid>::<node> as the kernel gives them.
import { KernelError } from "./errors.js";
import { TC_H_ROOT, type TcNetlink, type TcObject, type U32Filter, type U32FilterSpec } from "./tc-netlink.js";

interface Dev {
  qdiscs: TcObject[];
  classes: TcObject[];
  filters: Array<U32Filter & { parent: number }>;
  htids: Map<string, number>;
  nextNode: Map<number, number>;
}

export interface FakeTcNetlink extends TcNetlink {
  /** Makes a device known (a fresh bridge: root qdisc noqueue). */
  addDevice(dev: string): void;
  /** Every call, as "method dev …", for assertions. */
  readonly calls: string[];
}

export function createFakeTcNetlink(devices: readonly string[] = []): FakeTcNetlink {
  const devs = new Map<string, Dev>();
  const calls: string[] = [];
  let nextHtid = 0x800;
  const getByName = (dev: string, op: string): Dev => {
    const d = devs.get(dev);
    if (!d) throw new KernelError(`${op} dev ${JSON.stringify(dev)}`, "ENODEV");
    return d;
  };
  const names = new Map<number, string>();
  const name = (dev: string | number) => (typeof dev === "number" ? (names.get(dev) ?? `#${dev}`) : dev);
  const get = (dev: string | number, op: string) => getByName(name(dev), op);
  const fake: FakeTcNetlink = {
    calls,
    ifindex(dev) {
      calls.push(`ifindex ${name(dev)}`);
      getByName(dev, "ifindex");
      for (const [i, n] of names) if (n === dev) return i;
      throw new KernelError("ifindex", "ENODEV");
    },
    addDevice(dev) {
      names.set(names.size + 2, dev);
      devs.set(dev, {
        qdiscs: [{ kind: "noqueue", handle: 0, parent: TC_H_ROOT }],
        classes: [],
        filters: [],
        htids: new Map(),
        nextNode: new Map(),
      });
    },
    qdiscs(dev) {
      calls.push(`qdiscs ${name(dev)}`);
      return [...get(dev, "qdiscs").qdiscs];
    },
    addHtbRootQdisc(dev, handle) {
      calls.push(`addHtbRootQdisc ${name(dev)} ${handle.toString(16)}`);
      const d = get(dev, "addHtbRootQdisc");
      const root = d.qdiscs.find((q) => q.parent === TC_H_ROOT);
      if (root && root.kind !== "noqueue") throw new KernelError("addHtbRootQdisc", "EEXIST");
      d.qdiscs = [{ kind: "htb", handle, parent: TC_H_ROOT }];
    },
    deleteRootQdisc(dev, handle) {
      calls.push(`deleteRootQdisc ${name(dev)} ${handle.toString(16)}`);
      const d = get(dev, "deleteRootQdisc");
      if (!d.qdiscs.some((q) => q.parent === TC_H_ROOT && q.handle === handle))
        throw new KernelError("deleteRootQdisc", "ENOENT");
      d.qdiscs = [{ kind: "noqueue", handle: 0, parent: TC_H_ROOT }];
      d.classes = [];
      d.filters = [];
    },
    classes(dev) {
      calls.push(`classes ${name(dev)}`);
      return [...get(dev, "classes").classes];
    },
    addHtbClass(dev, parent, classid, rate) {
      calls.push(`addHtbClass ${name(dev)} ${classid.toString(16)} ${rate}`);
      const d = get(dev, "addHtbClass");
      if (!d.qdiscs.some((q) => q.kind === "htb" && q.handle === (parent & 0xffff0000) >>> 0))
        throw new KernelError("addHtbClass", "EINVAL");
      if (d.classes.some((c) => c.handle === classid)) throw new KernelError("addHtbClass", "EEXIST");
      d.classes.push({ kind: "htb", handle: classid, parent });
    },
    deleteClass(dev, _parent, classid) {
      calls.push(`deleteClass ${name(dev)} ${classid.toString(16)}`);
      const d = get(dev, "deleteClass");
      const i = d.classes.findIndex((c) => c.handle === classid);
      if (i < 0) throw new KernelError("deleteClass", "ENOENT");
      if (d.filters.some((f) => f.classid === classid)) throw new KernelError("deleteClass", "EBUSY");
      d.classes.splice(i, 1);
    },
    u32Filters(dev, parent) {
      calls.push(`u32Filters ${name(dev)}`);
      return get(dev, "u32Filters")
        .filters.filter((f) => f.parent === parent)
        .map(({ parent: _p, ...f }) => f);
    },
    addU32Filter(dev, f: U32FilterSpec) {
      calls.push(
        `addU32Filter ${name(dev)} prio ${f.prio} ${f.keys.map((k) => `${k.val.toString(16)}/${k.mask.toString(16)}@${k.off}`).join(" ")} ${f.classid.toString(16)}`,
      );
      const d = get(dev, "addU32Filter");
      const key = `${f.prio}/${f.protocol}`;
      let htid = d.htids.get(key);
      if (htid === undefined) {
        htid = nextHtid++;
        d.htids.set(key, htid);
      }
      const node = d.nextNode.get(htid) ?? 0x800;
      d.nextNode.set(htid, node + 1);
      const handle = ((htid << 20) | node) >>> 0;
      d.filters.push({
        parent: f.parent,
        protocol: f.protocol,
        prio: f.prio,
        handle,
        classid: f.classid,
        keys: [...f.keys],
      });
      return handle;
    },
    deleteU32Filter(dev, f) {
      calls.push(`deleteU32Filter ${name(dev)} prio ${f.prio} ${f.handle.toString(16)}`);
      const d = get(dev, "deleteU32Filter");
      const i = d.filters.findIndex((x) => x.handle === f.handle && x.prio === f.prio && x.protocol === f.protocol);
      if (i < 0) throw new KernelError("deleteU32Filter", "ENOENT");
      d.filters.splice(i, 1);
    },
    close() {},
  };
  for (const d of devices) fake.addDevice(d);
  return fake;
}
