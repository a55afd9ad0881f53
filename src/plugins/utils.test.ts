import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  formatChainName,
  formatComment,
  goQuote,
  mustFormatChainNameWithPrefix,
  mustFormatHashWithPrefix,
} from "./utils.js";

describe("hashed names (pkg/utils test vectors)", () => {
  it("chain names and comments", () => {
    assert.equal(formatChainName("mynet", "abc123"), "CNI-70a29d9dc18bc4d652ea5d59");
    assert.equal(mustFormatHashWithPrefix(28, "CNI-", "mynetabc123"), "CNI-70a29d9dc18bc4d652ea5d59");
    assert.equal(mustFormatHashWithPrefix(28, "CNI-DN-", "mynetabc123"), "CNI-DN-70a29d9dc18bc4d652ea5");
    assert.equal(mustFormatChainNameWithPrefix("mynet", "abc123", "DN-"), "CNI-DN-70a29d9dc18bc4d652ea5");
    assert.equal(formatComment("mynet", "abc123"), 'name: "mynet" id: "abc123"');
    assert.equal(goQuote('a"b\\c\n'), '"a\\"b\\\\c\\n"');
  });
  it("a prefix that leaves no room for the hash is Go's panic", () => {
    assert.throws(() => mustFormatHashWithPrefix(4, "CNI-", "x"), RangeError);
    assert.throws(() => mustFormatHashWithPrefix(129, "", "x"), RangeError);
    assert.equal(mustFormatHashWithPrefix(16, "", "mynet").length, 16);
  });
});
