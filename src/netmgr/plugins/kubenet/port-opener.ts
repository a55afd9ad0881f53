// Holding host ports open (the kubelet's openLocalPort): a TCP listener or a bound UDP socket in the
// daemon's netns, so a second pod or a host daemon cannot take the port. Connections that reach the
// socket (they would only bypass the DNAT by accident) are closed at once.
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import type { Exec } from "../../../kernel/exec.js";
import { joinHostPort } from "../../../ip/index.js";
import type { Closeable, ConntrackClearer, HostportKey, PortOpener } from "./hostport.js";

/** Go's wording: `listen tcp4 :8080: bind: address already in use`. */
function describe(hp: HostportKey, e: NodeJS.ErrnoException): string {
  const net = `${hp.protocol}${hp.family}`;
  const addr = joinHostPort(hp.ip, hp.port);
  const text =
    e.code === "EADDRINUSE"
      ? "address already in use"
      : e.code === "EACCES"
        ? "permission denied"
        : e.code === "EADDRNOTAVAIL"
          ? "cannot assign requested address"
          : e.message;
  return `listen ${net} ${addr}: bind: ${text}`;
}

export const nodePortOpener: PortOpener = (hp) =>
  new Promise<Closeable>((resolve, reject) => {
    const host = hp.ip !== "" ? hp.ip : hp.family === 6 ? "::" : "0.0.0.0";
    if (hp.protocol === "tcp") {
      const srv = createServer((sock) => sock.destroy());
      srv.once("error", (e: NodeJS.ErrnoException) => reject(new Error(describe(hp, e), { cause: e })));
      srv.listen({ port: hp.port, host, ipv6Only: hp.family === 6, exclusive: true }, () => {
        srv.unref();
        resolve({ close: () => new Promise<void>((r) => srv.close(() => r())) });
      });
    } else {
      const sock = createSocket({ type: hp.family === 6 ? "udp6" : "udp4", ipv6Only: hp.family === 6 });
      sock.once("error", (e: NodeJS.ErrnoException) => reject(new Error(describe(hp, e), { cause: e })));
      sock.bind({ port: hp.port, address: host, exclusive: true }, () => {
        sock.unref();
        sock.removeAllListeners("error");
        sock.on("error", () => {});
        resolve({ close: () => new Promise<void>((r) => sock.close(() => r())) });
      });
    }
  });

/** `conntrack -D -p udp --dport PORT` (-f ipv6); "0 flow entries" (exit 1) is not an error. */
export function conntrackClearer(exec: Exec): ConntrackClearer {
  return async (port, ipv6) => {
    const argv = ["conntrack", "-D", "-p", "udp", "--dport", String(port), ...(ipv6 ? ["-f", "ipv6"] : [])];
    try {
      await exec.run(argv);
    } catch (e) {
      if ((e as { exitCode?: number | null }).exitCode === 1) return;
      throw e;
    }
  };
}
