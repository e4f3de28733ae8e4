import type { Application } from '../controller/app';
import type { MeteringConfig } from '../app/config';
import type { ConnectionInfo } from '../services/manager';

/** What every demo step gets: the running product, how to reach it, and where to write files. */
export interface DemoContext {
  config: MeteringConfig;
  app: Application;
  /** Base URL of the controller (listening on loopback). */
  url: string;
  /** A token with every role, for the demo's own calls. */
  token: string;
  /** Ceilometer telemetry secret the demo signs samples with. */
  secret: string;
  services: ConnectionInfo;
  /** Directory for reports and plots (out/demo). */
  outDir: string;
  /** ../shared when present (real traces and templates), else undefined. */
  shared?: string;
  /**
   * Call the running controller with the demo's token; throws naming the route and status unless it
   * answers 2xx. `json()` parses the body, `body` is the text.
   */
  call(method: 'GET' | 'POST', url: string, payload?: object): Promise<{ status: number; body: string; json<T = unknown>(): T }>;
  /** Print one line of the demo's story. */
  say(line: string): void;
  /** Results steps hand to later steps (e.g. the replayed VMs). */
  state: Map<string, unknown>;
}

/** One chapter of the end-to-end demo. `run` throws with a clear message when it cannot proceed. */
export interface DemoStep {
  title: string;
  /** Services the step needs; it is skipped with the reason when one is missing. */
  needs?: Array<'kafka' | 'redis'>;
  run(ctx: DemoContext): Promise<void>;
}

/** `DemoContext.call` for a running application and token. */
export function controllerCaller(app: Application, token: string): DemoContext['call'] {
  return async (method, url, payload) => {
    const res = await app.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
    if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`${method} ${url} answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
    return { status: res.statusCode, body: res.body, json: <T,>() => res.json() as T };
  };
}
