// Helpers shared by the netmgr e2e files (a test file with no tests of its own, so that it lives
// beside them): tiny TCP servers and clients run inside namespaces with Node itself.
import { spawn, type ChildProcess } from "node:child_process";
import { nodeEnv } from "./sandbox.js";

/** A TCP server in `ns` answering every connection with `text`; kill() it when done. */
export function serveOnce(ns: string, port: number, text: string): ChildProcess {
  const code = `require("net").createServer(s=>s.end(${JSON.stringify(text)})).listen(${port})`;
  return spawn("ip", ["netns", "exec", ns, process.execPath, "-e", code], { env: nodeEnv(), stdio: "ignore" });
}

/** Connects from `ns` to host:port (retrying while the server starts) and returns what it sent. */
export function tcpGet(ns: string, host: string, port: number, timeoutMs = 5000): Promise<string> {
  const code = `const net=require("net");const end=Date.now()+${timeoutMs};(function go(){const s=net.connect(${port},${JSON.stringify(host)});let b="";s.on("data",d=>b+=d);s.on("end",()=>{process.stdout.write(b)});s.on("error",e=>{if(Date.now()<end)setTimeout(go,50);else{process.stderr.write(e.message);process.exit(1)}})})()`;
  return new Promise((resolve, reject) => {
    const c = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", code], { env: nodeEnv() });
    let out = "";
    let err = "";
    c.stdout.on("data", (d: Buffer) => (out += d));
    c.stderr.on("data", (d: Buffer) => (err += d));
    c.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`tcp ${host}:${port} from ${ns}: ${err}`))));
  });
}
