// --metrics-bind-address HOST:PORT, parsed (pure): where the daemons serve /metrics, /healthz and
// /readyz over TCP (metrics-server.ts).
import { tryParseIPExact } from "../../ip/index.js";
import { PodnetError } from "../../util/errors.js";

export class BindAddressError extends PodnetError {
  override name = "BindAddressError";
  readonly code = "PODNET_BIND_ADDRESS";
}

export interface BindAddress {
  /** An IP address literal (IPv6 without brackets). */
  readonly host: string;
  /** 0: any free port (the one bound is logged). */
  readonly port: number;
}

/**
 * "HOST:PORT" with HOST an IPv4 address or a bracketed IPv6 address ("127.0.0.1:9100",
 * "[::1]:9100", "0.0.0.0:9100"). The host is required: the endpoints are served only where told.
 */
export function parseBindAddress(text: string): BindAddress {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(text);
  const want = `want HOST:PORT with HOST an IP address, e.g. "127.0.0.1:9100" or "[::1]:9100"`;
  if (!m) throw new BindAddressError(`${JSON.stringify(text)} is not HOST:PORT (${want})`);
  const host = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  if (host === "")
    throw new BindAddressError(
      `${JSON.stringify(text)} has no host: name the address to listen on (e.g. "127.0.0.1:${m[3]}", or "0.0.0.0:${m[3]}" for every IPv4 address)`,
    );
  const ip = tryParseIPExact(host);
  if (!ip)
    throw new BindAddressError(`${JSON.stringify(text)}: ${JSON.stringify(host)} is not an IP address (${want})`);
  if ((ip.family === 6) !== (m[1] !== undefined))
    throw new BindAddressError(
      `${JSON.stringify(text)}: an IPv6 address is written in brackets ("[${host}]:${m[3]}"), an IPv4 one without`,
    );
  if (port > 65535) throw new BindAddressError(`${JSON.stringify(text)}: port ${port} is out of range (0-65535)`);
  return { host, port };
}

export const formatBindAddress = (a: BindAddress): string =>
  a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
