// The IPv4 fast paths against src/ip's general parsers: the same answer for canonical text, and
// undefined for anything else (which then takes the general path).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatIP, formatNetwork, tryParseCidr, tryParseIP } from "../ip/index.js";
import { v4Network, v4Value } from "./ip-fast.js";

/** What the fast path must answer: the value when the text is the canonical form of an IPv4 address. */
function expectedValue(s: string): number | undefined {
  const ip = tryParseIP(s);
  return ip && ip.family === 4 && formatIP(ip) === s ? Number(ip.value) : undefined;
}
function expectedNetwork(s: string): [number, number] | undefined {
  const c = tryParseCidr(s);
  return c && c.network.family === 4 && formatNetwork(c) === s ? [Number(c.network.value), c.prefix] : undefined;
}

describe("IPv4 fast paths", () => {
  it("agree with src/ip on edge cases and on many random texts", () => {
    const cases = [
      "0.0.0.0",
      "255.255.255.255",
      "256.1.1.1",
      "01.2.3.4",
      "1.2.3",
      "1.2.3.4.5",
      "1..2.3",
      "1.2.3.4 ",
      "",
      "10.0.0.0/8",
      "10.0.0.0/08",
      "10.0.0.1/8",
      "10.0.0.0/33",
      "10.0.0.0/",
      "0.0.0.0/0",
      "10.0.0.0/32",
      "10.0.0.0/00",
      "1.2.3.4/32",
      "192.168.1.0/24",
      "a.b.c.d",
      "1.2.3.-4",
      "::1",
      "fd00::/64",
      "1.2.3.4/24/1",
    ];
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const octet = () => [String(rnd(300)), `0${rnd(10)}`, String(rnd(256))][rnd(3)]!;
    for (let i = 0; i < 20_000; i++)
      cases.push(
        `${octet()}.${octet()}.${octet()}.${octet()}`,
        `${octet()}.${octet()}.0.0/${["0", "00", "016", "16", "24", "33"][rnd(6)]}`,
      );
    for (const c of cases) {
      assert.equal(v4Value(c), expectedValue(c), `v4Value(${JSON.stringify(c)})`);
      assert.deepEqual(v4Network(c), expectedNetwork(c), `v4Network(${JSON.stringify(c)})`);
    }
  });
});
