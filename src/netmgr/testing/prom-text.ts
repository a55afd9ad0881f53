// Tests only: a strict reader of the Prometheus text exposition format (version 0.0.4), so that
// tests check what a scraper would read rather than matching substrings. Throws on any line a
// scraper would refuse: a sample of a family with no TYPE, bad label syntax, a value that is not a
// number, a family declared twice.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  histogram: ["_bucket", "_sum", "_count"],
  summary: ["_sum", "_count"],
};

/** A sample value as Prometheus reads it (Go's ParseFloat: "NaN", "+Inf" in any case). */
function parseValue(s: string, line: string): number {
  if (/^\+?inf(inity)?$/i.test(s)) return Infinity;
  if (/^-inf(inity)?$/i.test(s)) return -Infinity;
  if (/^nan$/i.test(s)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s))
    throw new Error(`not a number: ${JSON.stringify(s)} in ${JSON.stringify(line)}`);
  return Number(s);
}

function parseLabels(body: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(body.slice(i));
    if (!m) throw new Error(`bad label at ${i} in ${JSON.stringify(line)}`);
    i += m[0].length;
    let v = "";
    for (;;) {
      const c = body[i++];
      if (c === undefined) throw new Error(`unterminated label value in ${JSON.stringify(line)}`);
      if (c === '"') break;
      if (c === "\\") {
        const e = body[i++];
        if (e === "n") v += "\n";
        else if (e === "\\" || e === '"') v += e;
        else throw new Error(`bad escape \\${e} in ${JSON.stringify(line)}`);
      } else v += c;
    }
    if (m[1]! in out) throw new Error(`label ${m[1]} twice in ${JSON.stringify(line)}`);
    out[m[1]!] = v;
    if (body[i] === ",") i++;
    else if (i < body.length) throw new Error(`expected , at ${i} in ${JSON.stringify(line)}`);
  }
  return out;
}

/** The families of an exposition, by name. */
export function parsePromText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const help = new Map<string, string>();
  const familyOf = (sample: string): Family | undefined => {
    const f = families.get(sample);
    if (f) return f;
    for (const [name, fam] of families) if ((SUFFIXES[fam.type] ?? []).some((s) => sample === name + s)) return fam;
    return undefined;
  };
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    if (line.startsWith("# HELP ")) {
      const [, name, ...rest] = line.split(" ").slice(1);
      help.set(name!, rest.join(" "));
      continue;
    }
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice(7).split(" ");
      if (!name || !NAME.test(name) || !type || !["counter", "gauge", "histogram", "summary", "untyped"].includes(type))
        throw new Error(`bad TYPE line ${JSON.stringify(line)}`);
      if (families.has(name)) throw new Error(`family ${name} declared twice`);
      families.set(name, { name, type, help: help.get(name) ?? "", samples: [] });
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!m) throw new Error(`bad sample line ${JSON.stringify(line)}`);
    const fam = familyOf(m[1]!);
    if (!fam) throw new Error(`sample ${m[1]} has no TYPE`);
    fam.samples.push({ name: m[1]!, labels: m[2] ? parseLabels(m[2], line) : {}, value: parseValue(m[3]!, line) });
  }
  return families;
}

/** The value of the one sample `name` with exactly these labels (among others), or undefined. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples)
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
  }
  return undefined;
}
