// Route, neighbour and FDB writes in batches (`ip -force -batch -`): many rtnetlink requests in one
// datagram (NetlinkSocket.batchEach). rtnetlink handles the messages of a datagram one after the
// other, in order, so a batch keeps the order of its changes and a refused one does not stop the
// rest; only failures (and the last message) are answered. Each answer the kernel queues is a
// socket buffer of its own in our receive queue, so a batch goes out in chunks small enough for
// that queue never to overflow even when every change fails (an overflow loses answers: ENOBUFS).
import { KernelError } from "./errors.js";
import { linkIndex } from "./links.js";
import { fdbRequest, neighRequest } from "./neigh.js";
import type { BatchMessage, NetlinkSocket } from "./netlink-socket.js";
import { type IndexOf, routeRequest } from "./routes.js";
import type { NetBatchOp } from "./types.js";

/**
 * Messages per datagram. An answer takes 0.7-1 KiB of receive buffer (its truesize; measured on
 * 6.18: 2,000 acks fit the 2 MiB the addon gets, 3,000 do not). The addon asks for 1 MiB, which
 * the kernel caps at net.core.rmem_max (Debian's default: 208 KiB, doubled to 416 KiB): 256
 * answers, error texts included, fit either way, and a 256-message datagram (~20 KiB) stays far
 * below the send buffer.
 */
export const BATCH_CHUNK = 256;

function encode(s: NetlinkSocket, c: NetBatchOp, indexOf: IndexOf): BatchMessage & { op: string } {
  switch (c.op) {
    case "routeAdd":
      return routeRequest(s, c.route, "add", indexOf);
    case "routeReplace":
      return routeRequest(s, c.route, "replace", indexOf);
    case "routeDel":
      return routeRequest(s, c.route, "del", indexOf);
    case "neighReplace":
      return neighRequest(s, c.neigh, "replace", indexOf);
    case "neighDel":
      return neighRequest(s, c.neigh, "del", indexOf);
    case "fdbReplace":
      return fdbRequest(s, c.fdb, "replace", indexOf);
    case "fdbDel":
      return fdbRequest(s, c.fdb, "del", indexOf);
    default:
      throw new RangeError(`batch: unknown operation ${JSON.stringify((c as { op?: unknown }).op)}`);
  }
}

/** Applies `changes` in order; one slot per change: undefined when applied, else its error. */
export function netBatch(
  s: NetlinkSocket,
  changes: readonly NetBatchOp[],
  chunk = BATCH_CHUNK,
): Array<Error | undefined> {
  const results: Array<Error | undefined> = new Array(changes.length).fill(undefined);
  // Each link named by the batch is looked up once (a missing one once too).
  const indexes = new Map<string, number | undefined>();
  const indexOf: IndexOf = (name, what) => {
    if (!indexes.has(name)) {
      try {
        indexes.set(name, linkIndex(s, name, what));
      } catch (e) {
        if (!(e instanceof KernelError && e.errno === "ENODEV")) throw e;
        indexes.set(name, undefined);
      }
    }
    const i = indexes.get(name);
    if (i === undefined) throw new KernelError(`${what}: link ${JSON.stringify(name)}`, "ENODEV");
    return i;
  };
  const pending: Array<{ at: number; msg: BatchMessage & { op: string } }> = [];
  changes.forEach((c, at) => {
    try {
      pending.push({ at, msg: encode(s, c, indexOf) });
    } catch (e) {
      if (!(e instanceof RangeError || e instanceof KernelError)) throw e;
      results[at] = e;
    }
  });
  for (let off = 0; off < pending.length; off += chunk) {
    const part = pending.slice(off, off + chunk);
    const errs = s.batchEach(
      part.map((p) => p.msg),
      `netlink batch of ${part.length}`,
    );
    part.forEach((p, i) => {
      results[p.at] = errs[i];
    });
  }
  return results;
}
