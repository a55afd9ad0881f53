// A small structured logger for the daemon: one JSON object per line in pino's shape
// ({"level":30,"time":…,"msg":…}), so pino tooling reads it. Tests use memoryLogger().

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

function serialise(v: unknown): unknown {
  if (v instanceof Error) return { type: v.name, message: v.message, ...(v.cause !== undefined ? { cause: serialise(v.cause) } : {}) };
  return v;
}

export function createJsonLogger(write: (line: string) => void, level: LogLevel = "info", now: () => number = Date.now, base: LogFields = {}): Logger {
  const min = LEVELS[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (LEVELS[lvl] < min) return;
    const rec: Record<string, unknown> = { level: LEVELS[lvl], time: now(), ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) rec[k] = serialise(v);
    rec["msg"] = msg;
    write(JSON.stringify(rec) + "\n");
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
