/**
 * The console's only way to the controller: same-origin fetch with the signed-in token as a bearer
 * header (never in a URL). The token lives in sessionStorage: gone when the tab closes.
 */
const KEY = 'metering.console.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const storedToken = (): string | null => sessionStorage.getItem(KEY);
export const storeToken = (token: string): void => sessionStorage.setItem(KEY, token);
export const forgetToken = (): void => sessionStorage.removeItem(KEY);

async function call<T>(token: string, method: 'GET' | 'POST', path: string, body?: unknown, onRefused?: (reason: string) => void): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    credentials: 'omit',
    cache: 'no-store',
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const j = json as { message?: string; reason?: string; error?: string } | undefined;
    const err = new ApiError(res.status, j?.message ?? j?.reason ?? j?.error ?? `${res.status} ${res.statusText}`);
    // 401: the token is no longer accepted (rotated by a reload, or expired): the session is over
    if (res.status === 401) onRefused?.(err.message);
    throw err;
  }
  return json as T;
}

export interface Api {
  get<T>(path: string): Promise<T>;
  /** GET that answers undefined for 404 (a route this deployment does not have). */
  optional<T>(path: string): Promise<T | undefined>;
  post<T>(path: string, body?: unknown): Promise<T>;
}

/** `onRefused`: called with the controller's reason when it answers 401 (token rotated away or expired). */
export function api(token: string, onRefused?: (reason: string) => void): Api {
  return {
    get: (path) => call(token, 'GET', path, undefined, onRefused),
    optional: async (path) => {
      try {
        return await call(token, 'GET', path, undefined, onRefused);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return undefined;
        throw err;
      }
    },
    post: (path, body) => call(token, 'POST', path, body ?? {}, onRefused),
  };
}

export const qs = (params: Record<string, string | number | undefined | null>): string => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
};
