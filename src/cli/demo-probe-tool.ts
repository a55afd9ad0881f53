// The demo's traffic tool, run by Node inside a namespace (`ip netns exec NS node demo-probe-tool.js
// COMMAND ...`): Node is on every machine podnet runs on, so the demo needs no curl, nc or iperf.
// Each command prints one JSON line on stdout for demo-probes.ts to read.
//
//   serve PORT TEXT        answer every connection with TEXT ("@peer": the caller's address)
//   get HOST PORT          connect (retrying for 5 s while the server starts) and print
//                          {"text", "ms"} of the successful attempt, or {"error"}
//   sink PORT WARMUP WINDOW GIVEUP
//                          receive one connection's bulk data; after WARMUP ms count the bytes
//                          for WINDOW ms and print {"bps"}; {"error"} when nothing came in GIVEUP ms
//   send HOST PORT GIVEUP  send as fast as the socket takes it, retrying the connection until the
//                          sink listens; exit after GIVEUP ms
import { connect, createServer, type Socket } from "node:net";

const print = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

/** Connects, calling `onError` instead of throwing so that the caller can retry. */
function dial(host: string, port: number, onConnect: (s: Socket) => void, onError: (e: Error) => void): Socket {
  const s = connect(port, host, () => onConnect(s));
  s.on("error", onError);
  return s;
}

function serve(port: number, text: string): void {
  createServer((s) => s.end(text === "@peer" ? (s.remoteAddress ?? "").replace(/^::ffff:/, "") : text)).listen(port);
}

function get(host: string, port: number): void {
  const deadline = Date.now() + 5000;
  const attempt = () => {
    const t0 = performance.now();
    let body = "";
    const s = dial(
      host,
      port,
      () => {},
      (e) => (Date.now() < deadline ? setTimeout(attempt, 50) : print({ error: e.message })),
    );
    s.on("data", (d) => (body += d));
    s.on("end", () => print({ text: body, ms: performance.now() - t0 }));
  };
  attempt();
}

function sink(port: number, warmupMs: number, windowMs: number, giveUpMs: number): void {
  const server = createServer((s) => {
    let first = 0;
    let start = 0;
    let bytes = 0;
    s.on("data", (d: Buffer) => {
      const t = performance.now();
      if (!first) first = t;
      if (t - first < warmupMs) return;
      if (!start) start = t;
      bytes += d.length;
      if (t - start >= windowMs) {
        print({ bps: (bytes * 8) / ((t - start) / 1000) });
        s.destroy();
        server.close();
        process.exit(0);
      }
    });
  });
  server.listen(port);
  setTimeout(() => {
    print({ error: `no data within ${giveUpMs} ms` });
    process.exit(1);
  }, giveUpMs);
}

function send(host: string, port: number, giveUpMs: number): void {
  const deadline = Date.now() + giveUpMs;
  const chunk = Buffer.alloc(65536);
  const attempt = () => {
    dial(
      host,
      port,
      (s) => {
        const pump = () => {
          while (s.write(chunk));
          s.once("drain", pump);
        };
        pump();
      },
      () => (Date.now() < deadline ? setTimeout(attempt, 30) : process.exit(1)),
    );
  };
  attempt();
  setTimeout(() => process.exit(0), giveUpMs);
}

const [command, ...args] = process.argv.slice(2);
const num = (i: number) => Number(args[i]);
switch (command) {
  case "serve":
    serve(num(0), args[1] ?? "");
    break;
  case "get":
    get(args[0] ?? "", num(1));
    break;
  case "sink":
    sink(num(0), num(1), num(2), num(3));
    break;
  case "send":
    send(args[0] ?? "", num(1), num(2));
    break;
  default:
    console.error(`demo-probe-tool: unknown command ${JSON.stringify(command)} (serve, get, sink, send)`);
    process.exit(2);
}
