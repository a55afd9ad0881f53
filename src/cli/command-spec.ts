// What a `podnet` command is to the dispatcher (main.ts) and to the shell completion: its name,
// summary, flags and how to load it. The table of them is commands.ts.

/** How a flag's value is completed: a file, a directory, one of fixed words, or free text. */
export type FlagValue = "file" | "dir" | "text" | readonly string[];

export interface FlagSpec {
  readonly name: string;
  /** Absent: a boolean flag. */
  readonly value?: FlagValue;
}

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  /** First positional words (cni add|del|…); completed before flags. */
  readonly subcommands?: readonly string[];
  readonly flags: () => Promise<readonly FlagSpec[]> | readonly FlagSpec[];
  readonly load: () => Promise<{ run(args: string[]): Promise<number> }>;
}
