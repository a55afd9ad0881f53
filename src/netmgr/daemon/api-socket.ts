// The API's HTTP server on the kernel layer's safe unix listener: only connections from allowed
// peers (root, and the --socket-group) ever reach the HTTP parser; anyone else gets a 403 and is
// disconnected before a byte of theirs is parsed. See docs/security.md.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { describePeer, listenUnix, type SocketGroup, type UnixListener } from "../../kernel/unix-listener.js";

const FORBIDDEN_BODY = `${JSON.stringify({ error: "forbidden: this socket serves root (and its socket group) only" })}\n`;
export const FORBIDDEN_ANSWER = `HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(FORBIDDEN_BODY)}\r\nconnection: close\r\n\r\n${FORBIDDEN_BODY}`;

export interface ApiSocketOptions {
  readonly group?: SocketGroup;
  /** Told about every refused connection (log its uid and pid). */
  readonly onReject?: (who: string) => void;
}

/** Serves `handler` on the unix socket `socketPath`; close() stops it and removes the socket. */
export async function serveApi(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  socketPath: string,
  o: ApiSocketOptions = {},
): Promise<UnixListener> {
  const http = createServer(handler);
  // The HTTP server never listens itself; 'listening' starts its connection tracking (header and
  // request timeouts, closeAllConnections) for the connections handed to it below.
  http.emit("listening");
  const listener = await listenUnix(socketPath, (conn) => http.emit("connection", conn), {
    ...(o.group ? { group: o.group } : {}),
    rejectAnswer: FORBIDDEN_ANSWER,
    onReject: (peer) => o.onReject?.(describePeer(peer)),
  });
  return {
    ...listener,
    async close() {
      http.closeAllConnections();
      http.close();
      await listener.close();
    },
  };
}
