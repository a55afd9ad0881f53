// Live checks the demo runs between namespaces, with Node itself as the tool (it is there on every
// machine podnet runs on): ping, a TCP request through a hostPort, and a timed bulk transfer.
import { inNs, nodeIn, type Background } from "./demo-lab.js";

/** `ping -c3 -i 0.2`; the average RTT in ms, or undefined when nothing came back. */
export async function ping(fromNs: string, ip: string): Promise<number | undefined> {
  const r = await inNs(fromNs, ["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", ip]);
  if (r.status !== 0) return undefined;
  const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  return m ? Number(m[1]) : undefined;
}

/** A server in `ns` answering each connection with `text` until killed. */
export const serve = (ns: string, port: number, text: string): Background =>
  nodeIn(ns, `require("net").createServer(s=>s.end(${JSON.stringify(text)})).listen(${port})`);

/** Connects from `ns` (retrying while the server starts); the text and the time of the successful attempt. */
export async function tcpGet(ns: string, host: string, port: number): Promise<{ text: string; ms: number } | { error: string }> {
  const code = `const net=require("net");const end=Date.now()+5000;(function go(){const t0=performance.now();const s=net.connect(${port},${JSON.stringify(host)});let b="";s.on("data",d=>b+=d);s.on("end",()=>{console.log(JSON.stringify({text:b,ms:performance.now()-t0}))});s.on("error",e=>{if(Date.now()<end)setTimeout(go,50);else{console.log(JSON.stringify({error:e.message}))}})})()`;
  const r = await inNs(ns, [process.execPath, "-e", code]);
  try {
    return JSON.parse(r.stdout) as { text: string; ms: number };
  } catch {
    return { error: r.stderr.trim() || `exit ${r.status}` };
  }
}

/**
 * Bulk transfer from `fromNs` to `toIp`:`port` (a sink in `toNs`): the bytes received in a
 * `windowMs` window after a `warmupMs` warm-up, in bits per second.
 */
export async function transferRate(fromNs: string, toNs: string, toIp: string, port: number, windowMs = 1000, warmupMs = 250): Promise<number | { error: string }> {
  const give = windowMs + warmupMs + 8000;
  const sink = nodeIn(toNs, `const srv=require("net").createServer(s=>{let n=0,t0=0,start=0;s.on("data",d=>{const t=performance.now();if(!t0)t0=t;if(t-t0>=${warmupMs}){if(!start)start=t;n+=d.length;if(t-start>=${windowMs}){console.log(JSON.stringify({bps:n*8/((t-start)/1000)}));s.destroy();srv.close();process.exit(0)}}})});srv.listen(${port});setTimeout(()=>{console.log(JSON.stringify({error:"no data within ${give} ms"}));process.exit(1)},${give})`);
  const sender = nodeIn(fromNs, `const net=require("net");const end=Date.now()+${give};(function go(){const s=net.connect(${port},${JSON.stringify(toIp)},()=>{const b=Buffer.alloc(65536);const pump=()=>{while(s.write(b));s.once("drain",pump)};pump()});s.on("error",()=>{if(Date.now()<end)setTimeout(go,30);else process.exit(1)});s.on("close",()=>{})})();setTimeout(()=>process.exit(0),${give})`);
  const r = await sink.done;
  await sender.kill();
  const lines = (r?.stdout.toString() ?? "").trim().split("\n").map((l) => {
    try {
      return JSON.parse(l) as { bps?: number; error?: string };
    } catch {
      return {};
    }
  });
  const res = lines.find((l) => l.bps !== undefined);
  return res?.bps ?? { error: lines.find((l) => l.error)?.error ?? (r?.stderr.toString().trim() || "no result") };
}
