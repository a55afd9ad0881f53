// One YAML (or JSON) document → plain data, with the yaml library kept within bounds: nesting depth
// measured on the CST parser's explicit stack before the composer (which recurses) sees anything,
// duplicate keys refused, alias expansion capped. The caller bounds the size first (its own
// message). Used for Pod manifests (netmgr/sandbox/pod-manifest.ts) and node config files
// (netmgr/daemon/node-config.ts).
import { Composer, type CST, Lexer, LineCounter, Parser, type Document } from "yaml";
import { PodnetError } from "./errors.js";

export class YamlInputError extends PodnetError {
  override name = "YamlInputError";
  readonly code = "PODNET_YAML_INPUT";
}

export interface YamlDocumentOptions {
  /** What the text is, for messages: "the manifest", "the config file". */
  readonly what: string;
  readonly maxDepth: number;
  /** The yaml library's maxAliasCount: uses × aliases inside the anchored node. */
  readonly maxAliases: number;
  /** The message when the text holds `n` > 1 documents (default: "<what> holds n documents; expected one"). */
  readonly tooMany?: (n: number) => string;
  /** Whether no document at all is fine (then the result is null); default: an error. */
  readonly allowEmpty?: boolean;
}

export function parseYamlDocument(text: string, o: YamlDocumentOptions): unknown {
  const lines = new LineCounter();
  const at = (offset: number) => {
    const p = lines.linePos(offset);
    return ` (line ${p.line}, column ${p.col})`;
  };
  // The CST parser keeps its nesting on an explicit stack: measure it lexeme by lexeme (what
  // Parser.parse does), before the composer, which recurses, sees anything.
  const parser = new Parser(lines.addNewLine);
  const tokens: CST.Token[] = [];
  lines.addNewLine(0);
  for (const lexeme of new Lexer().lex(text)) {
    for (const t of parser.next(lexeme)) tokens.push(t);
    if (parser.stack.length > o.maxDepth)
      throw new YamlInputError(`${o.what} nests deeper than ${o.maxDepth} levels${at(parser.offset)}`);
  }
  for (const t of parser.end()) tokens.push(t);
  let docs: Document.Parsed[];
  try {
    docs = [...new Composer({ uniqueKeys: true }).compose(tokens)];
  } catch (e) {
    throw new YamlInputError(`cannot parse ${o.what} as YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  const nonEmpty = docs.filter((d) => d.contents !== null || d.errors.length > 0);
  if (nonEmpty.length === 0) {
    if (o.allowEmpty) return null;
    throw new YamlInputError(`${o.what} is empty`);
  }
  if (nonEmpty.length > 1)
    throw new YamlInputError(
      o.tooMany?.(nonEmpty.length) ?? `${o.what} holds ${nonEmpty.length} documents; expected one`,
    );
  const doc = nonEmpty[0]!;
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    throw new YamlInputError(`cannot parse ${o.what} as YAML${at(e.pos[0])}: ${e.message.split("\n")[0]}`);
  }
  try {
    return doc.toJS({ maxAliasCount: o.maxAliases });
  } catch (e) {
    // ReferenceError "Excessive alias count…", or an alias that expands past the stack.
    throw new YamlInputError(`cannot use ${o.what}: ${(e as Error).message.split("\n")[0]}`);
  }
}
