// Plain-text tables and a little colour for the CLI (colour only on a TTY, and never with NO_COLOR).

/** Display width of a string (escape sequences excluded; ✓/✗ and box characters count as one). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the ANSI colour sequences this strips
export const visibleWidth = (s: string): number => s.replace(/\x1b\[[0-9;]*m/g, "").length;

export function renderTable(
  headers: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  opts: { indent?: string; align?: ReadonlyArray<"l" | "r"> } = {},
): string {
  const widths = headers.map((h, i) => Math.max(visibleWidth(h), ...rows.map((r) => visibleWidth(r[i] ?? ""))));
  const pad = (s: string, i: number) => {
    const gap = " ".repeat(widths[i]! - visibleWidth(s));
    return opts.align?.[i] === "r" ? gap + s : s + gap;
  };
  const ind = opts.indent ?? "";
  const line = (cells: readonly string[]) =>
    ind +
    cells
      .map((c, i) => pad(c, i))
      .join("  ")
      .trimEnd();
  const rule = ind + widths.map((w) => "─".repeat(w)).join("  ");
  return `${[line(headers), rule, ...rows.map(line)].join("\n")}\n`;
}

export interface Colors {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

export function colors(enabled: boolean): Colors {
  const wrap = (a: number, b: number) => (s: string) => (enabled ? `\x1b[${a}m${s}\x1b[${b}m` : s);
  return {
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    green: wrap(32, 39),
    red: wrap(31, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  };
}

export const useColor = (stream: { isTTY?: boolean }, env: Readonly<Record<string, string | undefined>>): boolean =>
  !!stream.isTTY && env["NO_COLOR"] === undefined && env["TERM"] !== "dumb";
