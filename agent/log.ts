/**
 * The agent's logger: pino's `info`/`warn` call shape, one JSON line per entry on stderr. The host
 * agent uses this small one instead of pino to stay within its memory budget; anything with the
 * same two methods (pino itself, in the controller and the demo) can be passed instead.
 */
export interface AgentLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 } as const;

export function stderrLog(level: string): AgentLog {
  const min = LEVELS[level as keyof typeof LEVELS] ?? LEVELS.warn;
  const write = (lvl: number, obj: object, msg?: string) => {
    if (lvl < min) return;
    process.stderr.write(JSON.stringify({ level: lvl, time: Date.now(), component: 'agent', ...obj, ...(msg ? { msg } : {}) }) + '\n');
  };
  return { info: (obj, msg) => write(LEVELS.info, obj, msg), warn: (obj, msg) => write(LEVELS.warn, obj, msg) };
}
