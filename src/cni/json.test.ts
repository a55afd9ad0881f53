import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  GO_MAX_JSON_DEPTH,
  JsonInputError,
  MAX_JSON_BYTES,
  MAX_JSON_DEPTH,
  formatBytes,
  goSyntaxError,
  readJson,
  readJsonObject,
  scanJson,
} from "./json.js";
import { brief, canonicalKeys } from "./keys.js";

const deep = (n: number, inner = "") => "[".repeat(n) + inner + "]".repeat(n);
const fails = (input: string | Buffer, re: RegExp) =>
  assert.throws(
    () => readJson(input),
    (e: unknown) => e instanceof JsonInputError && re.test(e.message),
  );

describe("the bounded JSON reader", () => {
  it("accepts exactly what JSON.parse accepts (valid and invalid documents)", () => {
    const docs = [
      "{}",
      "[]",
      "0",
      "-0",
      "1.5e-3",
      "-12E+4",
      '"a\\u00e9\\n\\"\\\\\\/"',
      "true",
      "false",
      "null",
      ' \t\r\n{ "a" : [1, {"b": null}] } \n',
      '"é ☃ 😀"',
      "[1,[2,[3]]]",
      '{"a":1,"a":2}',
      "",
      " ",
      "{",
      "}",
      "[1,]",
      "[,1]",
      '{"a":1,}',
      '{"a" 1}',
      "{a:1}",
      "01",
      "-",
      "1.",
      ".5",
      "1e",
      "+1",
      "tru",
      "nul",
      "[1 2]",
      '"\\x"',
      '"\\u12g4"',
      '"a\tb"',
      '"unterminated',
      "1 2",
      "{}{}",
      "\u00a0{}",
      "\ufeff{}",
      "NaN",
      "Infinity",
      "'a'",
      "[1]]",
    ];
    for (const d of docs) {
      let ok = true;
      try {
        JSON.parse(d);
      } catch {
        ok = false;
      }
      if (ok) assert.deepEqual(JSON.stringify(readJson(d)), JSON.stringify(JSON.parse(d)), d);
      else assert.throws(() => readJson(d), JsonInputError, d);
    }
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} at the first bracket too many, whatever follows`, () => {
    assert.doesNotThrow(() => readJson(deep(MAX_JSON_DEPTH)));
    assert.doesNotThrow(() => readJson(`{"a":${deep(MAX_JSON_DEPTH - 1)}}`));
    fails(
      deep(MAX_JSON_DEPTH + 1),
      new RegExp(
        `^nesting deeper than ${MAX_JSON_DEPTH} levels at line 1, column ${MAX_JSON_DEPTH + 1} \\(byte ${MAX_JSON_DEPTH}\\)$`,
      ),
    );
    // Go's decoder would stop at 10,000; V8 itself parses 5,000,000 levels into ~0.5 GB.
    const huge = Buffer.alloc(10_000_000, "[");
    fails(huge, /^nesting deeper than 1000 levels/);
    assert.throws(
      () => readJson("[".repeat(2000), { maxDepth: 2 }),
      /nesting deeper than 2 levels at line 1, column 3/,
    );
  });

  it(`refuses more than ${formatBytes(MAX_JSON_BYTES)} before looking at a byte`, () => {
    assert.throws(() => readJson(Buffer.alloc(MAX_JSON_BYTES + 1, " ")), /: input is larger than 64 MiB$/);
    assert.throws(
      () => readJson(`"${"é".repeat(6)}"`, { maxBytes: 10 }),
      /larger than 10 bytes/,
      "bytes, not characters",
    );
    assert.doesNotThrow(() => readJson(`"${"é".repeat(4)}"`, { maxBytes: 10 }));
  });

  it("names the position and what was expected, never the input's bytes", () => {
    const secret = "root:$6$Zr4xSECRETSALT$hashhashhash:19000:0:99999:7:::\n";
    assert.throws(
      () => readJson(secret),
      (e: unknown) => {
        assert.ok(e instanceof JsonInputError);
        assert.equal(e.message, "unexpected character (expected a value) at line 1, column 1 (byte 0)");
        assert.doesNotMatch(e.message, /root|SECRET|hash/);
        return true;
      },
    );
    fails(
      '{"a": 1,\n  "b": [1, 2,, 3]}',
      /^unexpected character \(expected a value\) at line 2, column 14 \(byte 22\)$/,
    );
    fails('{"a" 1}', /expected ':'\) at line 1, column 6/);
    fails('{"a": 1 "b": 2}', /expected ',' or '}'\)/);
    fails("[1, 2", /^unexpected end of input \(unclosed array or object\)/);
    fails('"abc', /^unterminated string at line 1, column 1/);
    fails('"a\u0001"', /^control character in string/);
    fails("[1] x", /^unexpected data after the JSON value at line 1, column 5/);
  });

  it("gives plain data: no prototypes, __proto__ is a key like any other", () => {
    const o = readJsonObject(
      '{"__proto__": {"dataDir": "/x"}, "ipam": {"constructor": {"prototype": 1}}, "l": [{"a": 1}]}',
    );
    assert.equal(Object.getPrototypeOf(o), null);
    assert.deepEqual(Object.keys(o), ["__proto__", "ipam", "l"]);
    assert.equal(o["dataDir"], undefined, "nothing inherited from a __proto__ key");
    assert.equal("toString" in o, false, "nothing inherited at all");
    const ipam = o["ipam"] as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(ipam), null);
    assert.deepEqual(Object.keys(ipam), ["constructor"]);
    assert.equal(Object.getPrototypeOf((o["l"] as object[])[0]), null, "objects inside arrays too");
    assert.equal(Object.getPrototypeOf(readJsonObject("{}", { nullPrototypes: false })), Object.prototype);
    assert.throws(() => readJsonObject("[1]"), /: expected a JSON object, got an array$/);
    assert.throws(
      () => readJsonObject('"secret"'),
      (e: Error) => !/secret/.test(e.message),
    );
  });

  it("the scanner alone validates buffers without decoding them", () => {
    assert.doesNotThrow(() => scanJson(Buffer.from('{"a":[true,false,null,-1.5e+3,"\\ud83d\\ude00"]}')));
    assert.throws(() => scanJson(Buffer.from("[]"), 0), /nesting deeper than 0 levels/);
  });
});

describe("one scanner, two vocabularies", () => {
  it("refuses exactly where encoding/json refuses: podnet's words and Go's for the same documents", () => {
    const docs = [
      "{}",
      "[]",
      "0",
      "-0",
      "1.5e-3",
      '"a\\u00e9"',
      "true",
      ' [1, {"b": null}] ',
      '"é ☃ 😀"',
      "",
      " ",
      "{",
      "}",
      "[1,]",
      "[,1]",
      '{"a":1,}',
      '{"a" 1}',
      "{a:1}",
      "01",
      "-",
      "1.",
      ".5",
      "1e",
      "+1",
      "tru",
      "nul",
      "[1 2]",
      '"\\x"',
      '"\\u12g4"',
      '"\\u12',
      '"\\',
      '"a\tb"',
      '"unterminated',
      "1 2",
      "{}{}",
      "\u00a0{}",
      "\ufeff{}",
      "NaN",
      "'a'",
      "[1]]",
      "[-]",
      "0x",
      deep(GO_MAX_JSON_DEPTH),
      deep(GO_MAX_JSON_DEPTH + 1),
      deep(2000, "x"),
    ];
    for (const d of docs) {
      const b = Buffer.from(d);
      let ours: JsonInputError | undefined;
      try {
        scanJson(b, GO_MAX_JSON_DEPTH);
      } catch (e) {
        assert.ok(e instanceof JsonInputError);
        ours = e;
      }
      const go = goSyntaxError(b);
      assert.equal(ours === undefined, go === undefined, `${d.slice(0, 20)}: podnet ${ours?.message}, Go ${go}`);
      if (go !== undefined) assert.match(go, /^(invalid character '.+' .+|unexpected end of JSON input)$/);
    }
  });
  it("Go's words where it stops, podnet's where the problem starts", () => {
    assert.equal(goSyntaxError(Buffer.from("[tru]")), "invalid character ']' in literal true (expecting 'e')");
    assert.throws(
      () => scanJson(Buffer.from("[tru]")),
      (e: unknown) =>
        e instanceof JsonInputError && e.message === "invalid literal (expected true) at line 1, column 2 (byte 1)",
    );
    assert.equal(
      goSyntaxError(Buffer.from(deep(MAX_JSON_DEPTH + 1))),
      undefined,
      "podnet's own depth limit is not Go's",
    );
  });
});

describe("copies of input keys", () => {
  it("canonicalKeys never lets a __proto__ key become the prototype", () => {
    // JSON.parse makes "__proto__" an own property; an ordinary `out[k] = v` would set the prototype.
    const raw = JSON.parse('{"__proto__": {"dataDir": "/attacker"}, "Subnet": "10.0.0.0/8"}') as Record<
      string,
      unknown
    >;
    const out = canonicalKeys(raw, ["subnet", "dataDir"]);
    assert.equal(Object.getPrototypeOf(out), null);
    assert.equal("dataDir" in out, false);
    assert.equal(out["subnet"], "10.0.0.0/8");
    assert.deepEqual(Object.keys(out), ["__proto__", "subnet"]);
  });

  it("brief() shows a bounded, shallow rendering whatever the value's size or depth", () => {
    assert.equal(brief(5), "5");
    assert.equal(brief(undefined), "nothing");
    assert.equal(brief({ a: [1, 2] }), '{"a":[1,2]}');
    assert.equal(brief(readJson(deep(1000))), "[[[…]]]");
    const wide = brief(Array.from({ length: 1_000_000 }, (_, i) => i));
    assert.equal(wide, "[0,1,2,3,4,5,6,7,…]");
    assert.ok(brief("x".repeat(10_000_000)).length <= 120);
  });
});
