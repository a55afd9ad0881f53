// The daemons' structured log (podnet node and podnet resident): one JSON object per line,
//   {"time":"2025-01-31T12:00:00.000Z","level":"info","msg":"pod network set-up","pod":"default/web",…}
// time (ISO 8601, UTC, milliseconds), level (debug, info, warn, error) and msg first, then the
// fields; an Error field becomes {type, message, code?, cause?}. A field named like one of the
// first three is written with a leading "_" ("_msg"). Tests use memoryLogger().

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const LEVELS: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };

export const isLogLevel = (s: string): s is LogLevel => Object.hasOwn(LEVELS, s);

const RESERVED = new Set(["time", "level", "msg"]);

function serialise(v: unknown): unknown {
  if (v instanceof Error) {
    const code = (v as { code?: unknown }).code;
    return {
      type: v.name,
      message: v.message,
      ...(typeof code === "string" ? { code } : {}),
      ...(v.cause !== undefined ? { cause: serialise(v.cause) } : {}),
    };
  }
  return v;
}

/** A logger writing one JSON line per record at `level` and above; `now` is the wall clock in ms. */
export function createJsonLogger(
  write: (line: string) => void,
  level: LogLevel = "info",
  now: () => number = Date.now,
  base: LogFields = {},
): Logger {
  const min = LEVELS[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (LEVELS[lvl] < min) return;
    const rec: Record<string, unknown> = { time: new Date(now()).toISOString(), level: lvl, msg };
    for (const f of [base, fields ?? {}])
      for (const [k, v] of Object.entries(f)) rec[RESERVED.has(k) ? `_${k}` : k] = serialise(v);
    let line: string;
    try {
      line = JSON.stringify(rec, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
    } catch (e) {
      // a field that cannot be written (a cycle): the record without its fields, and why
      line = JSON.stringify({
        time: rec["time"],
        level: lvl,
        msg,
        logError: `fields not written: ${(e as Error).message}`,
      });
    }
    write(`${line}\n`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (f) => createJsonLogger(write, level, now, { ...base, ...f }),
  };
}

export interface MemoryLogger extends Logger {
  readonly lines: Array<{ level: LogLevel; msg: string; fields: LogFields }>;
}

export function memoryLogger(): MemoryLogger {
  const lines: MemoryLogger["lines"] = [];
  const make = (base: LogFields): Logger => ({
    debug: (msg, f) => lines.push({ level: "debug", msg, fields: { ...base, ...f } }),
    info: (msg, f) => lines.push({ level: "info", msg, fields: { ...base, ...f } }),
    warn: (msg, f) => lines.push({ level: "warn", msg, fields: { ...base, ...f } }),
    error: (msg, f) => lines.push({ level: "error", msg, fields: { ...base, ...f } }),
    child: (f) => make({ ...base, ...f }),
  });
  return Object.assign(make({}), { lines });
}

export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return nullLogger;
  },
};
