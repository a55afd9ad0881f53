import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { goDecodeStringField, goJSON, goMarshalIndent, goQuote, goStrconvQuote, goStrconvQuoteList } from "./gojson.js";
import { goSyntaxError } from "./json.js";

describe("goQuote (encoding/json strings, Go 1.19)", () => {
  const cases: Array<[string, string]> = [
    ["plain", '"plain"'],
    ['q"b\\s', '"q\\"b\\\\s"'],
    ["<a href>&", '"\\u003ca href\\u003e\\u0026"'],
    ["\n\r\t", '"\\n\\r\\t"'],
    ["\b\f\u0001\u001f", '"\\u0008\\u000c\\u0001\\u001f"'],
    ["\u2028\u2029", '"\\u2028\\u2029"'],
    ["\u007f é ✓ 😀", '"\u007f é ✓ 😀"'],
    ["lone \ud800 and \udc00", '"lone \\ufffd and \\ufffd"'],
  ];
  for (const [s, want] of cases) it(JSON.stringify(s), () => assert.equal(goQuote(s), want));
});

describe("goMarshalIndent / goJSON", () => {
  it('indents like MarshalIndent(v, "", "    ") in the object\'s own order', () => {
    assert.equal(
      goMarshalIndent({ b: 1, a: [], c: {}, d: [{ x: "<" }], u: undefined }),
      '{\n    "b": 1,\n    "a": [],\n    "c": {},\n    "d": [\n        {\n            "x": "\\u003c"\n        }\n    ]\n}',
    );
  });
  it("sorts map keys, optionally not at the top", () => {
    assert.equal(goJSON({ b: { z: 1, y: 2 }, a: true }), '{"a":true,"b":{"y":2,"z":1}}');
    assert.equal(goJSON({ b: { z: 1, y: 2 }, a: true }, true), '{"b":{"y":2,"z":1},"a":true}');
  });
});

describe("goStrconvQuote (fmt %q)", () => {
  it("escapes like strconv.Quote", () => {
    assert.equal(goStrconvQuote('a"b\\c\n\u0007\u007f\u0085é'), '"a\\"b\\\\c\\n\\a\\x7f\\u0085é"');
    assert.equal(goStrconvQuoteList(["0.1.0", "1.0.0"]), '["0.1.0" "1.0.0"]');
  });
});

describe("goSyntaxError (encoding/json's scanner)", () => {
  const cases: Array<[string, string | undefined]> = [
    ['{"name": "x"}', undefined],
    [' [1, -0.5e+3, true, null, "\\u00e9"] ', undefined],
    ["", "unexpected end of JSON input"],
    ["   ", "unexpected end of JSON input"],
    ['{"name": "lo', "unexpected end of JSON input"],
    ["not json", "invalid character 'o' in literal null (expecting 'u')"],
    ["tru", "invalid character ' ' in literal true (expecting 'e')"],
    ["-", "invalid character ' ' in numeric literal"],
    ['{"a": 1} x', "invalid character 'x' after top-level value"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['{"a": 1 "b"}', "invalid character '\"' after object key:value pair"],
    ["[1 2]", "invalid character '2' after array element"],
    ["{1: 2}", "invalid character '1' looking for beginning of object key string"],
    ["{'a': 1}", "invalid character '\\'' looking for beginning of object key string"],
    ['"a\tb"', "invalid character '\\t' in string literal"],
    ['"\\x"', "invalid character 'x' in string escape code"],
    ['"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"],
    ["1.x", "invalid character 'x' after decimal point in numeric literal"],
    ["1e+", "invalid character ' ' in exponent of numeric literal"],
    ["01", "invalid character '1' after top-level value"],
    ["\ufeff{}", "invalid character 'ï' looking for beginning of value"],
    ["\u0001", "invalid character '\\x01' looking for beginning of value"],
    ["[".repeat(10_001), "invalid character '[' exceeded max depth"],
  ];
  for (const [text, want] of cases)
    it(JSON.stringify(text.slice(0, 20)), () => assert.equal(goSyntaxError(Buffer.from(text)), want));
});

describe("goDecodeStringField", () => {
  const T = 'struct { Name string "json:\\"name\\"" }';
  it("reads the field without case; null and absent are empty", () => {
    assert.deepEqual(goDecodeStringField({ NAME: "x" }, "name", T), { value: "x" });
    assert.deepEqual(goDecodeStringField({ name: null }, "name", T), { value: "" });
    assert.deepEqual(goDecodeStringField(null, "name", T), { value: "" });
  });
  it("names the JSON kind and the Go type as encoding/json does", () => {
    assert.deepEqual(goDecodeStringField([], "name", T), {
      error: 'json: cannot unmarshal array into Go value of type struct { Name string "json:\\"name\\"" }',
    });
    assert.deepEqual(goDecodeStringField({ name: 5 }, "name", T), {
      error: "json: cannot unmarshal number into Go struct field .name of type string",
    });
    assert.deepEqual(goDecodeStringField({ name: true }, "name", T), {
      error: "json: cannot unmarshal bool into Go struct field .name of type string",
    });
    assert.deepEqual(goDecodeStringField({ name: {} }, "name", T), {
      error: "json: cannot unmarshal object into Go struct field .name of type string",
    });
  });
});
