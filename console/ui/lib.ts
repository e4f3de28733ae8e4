/// <reference lib="dom" />
import { createContext, h, type ComponentChildren } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import type { Api } from './api';

/** Preact with htm tagged templates: components without a JSX build step. */
export const html = htm.bind(h);

export interface Session {
  name: string;
  roles: string[];
  project: string | null;
  refresh_seconds: number;
}

export interface ConsoleContext {
  api: Api;
  session: Session;
  isAdmin: boolean;
}

export const Ctx = createContext<ConsoleContext>(null as unknown as ConsoleContext);
export const useConsole = (): ConsoleContext => useContext(Ctx);

export interface Poll<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
  updated: Date | undefined;
  reload: () => void;
}

/**
 * Load `load()` now, again whenever `deps` change and every refresh interval while the tab is
 * visible; the last good data stays on screen when a refresh fails (the error is shown beside it).
 */
export function usePoll<T>(load: () => Promise<T>, deps: unknown[] = [], refresh = true): Poll<T> {
  const { session } = useConsole();
  const [state, setState] = useState<{ data?: T; error?: string; loading: boolean; updated?: Date }>({ loading: true });
  const [tick, setTick] = useState(0);
  const live = useRef(true);
  useEffect(() => {
    live.current = true;
    return () => void (live.current = false);
  }, []);
  useEffect(() => {
    let current = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => current && live.current && setState({ data, loading: false, updated: new Date() }),
      (err: Error) => current && live.current && setState((s) => ({ ...s, error: err.message, loading: false })),
    );
    return () => void (current = false);
  }, [...deps, tick]);
  useEffect(() => {
    if (!refresh) return;
    const id = setInterval(() => {
      if (document.visibilityState === 'visible') setTick((t) => t + 1);
    }, session.refresh_seconds * 1000);
    return () => clearInterval(id);
  }, [refresh, session.refresh_seconds]);
  return { data: state.data, error: state.error, loading: state.loading, updated: state.updated, reload: () => setTick((t) => t + 1) };
}

/** One panel: a labelled section with `data-panel`, its status line, and its content. */
export function Panel(props: { name: string; title: string; poll?: Poll<unknown>; children?: ComponentChildren; actions?: ComponentChildren }) {
  const { name, title, poll } = props;
  const id = `panel-${name}`;
  return html`<section class="panel" data-panel=${name} aria-labelledby=${id} id=${name}>
    <header class="panel-head">
      <h2 id=${id}>${title}</h2>
      <div class="panel-status" role="status" aria-live="polite">
        ${poll?.loading && !poll.data ? 'loading…' : poll?.updated ? `updated ${poll.updated.toLocaleTimeString('en-GB')}` : ''}
        ${poll ? html`<button type="button" class="link" onClick=${poll.reload} aria-label=${`refresh ${title}`}>refresh</button>` : null}
      </div>
      ${props.actions}
    </header>
    ${poll?.error ? html`<p class="error" role="alert">Could not load: ${poll.error}</p>` : null}
    ${props.children}
  </section>`;
}

/** Horizontal bars as an accessible list: label, bar, readable value. */
export function Bars(props: { rows: Array<{ label: string; value: number; text: string }>; caption: string }) {
  const max = Math.max(0, ...props.rows.map((r) => r.value));
  return html`<figure class="bars">
    <figcaption>${props.caption}</figcaption>
    <ul>
      ${props.rows.map(
        (r) => html`<li>
          <span class="bar-label">${r.label}</span>
          <span class="bar-track" aria-hidden="true"><span class="bar-fill" style=${{ width: `${max > 0 ? (100 * r.value) / max : 0}%` }}></span></span>
          <span class="bar-value">${r.text}</span>
        </li>`,
      )}
    </ul>
  </figure>`;
}

export function Stat(props: { label: string; value: string; note?: string; tone?: 'ok' | 'warn' | 'bad' }) {
  return html`<div class=${`stat ${props.tone ?? ''}`}>
    <div class="stat-label">${props.label}</div>
    <div class="stat-value">${props.value}</div>
    ${props.note ? html`<div class="stat-note">${props.note}</div>` : null}
  </div>`;
}

export function Empty(props: { children: ComponentChildren }) {
  return html`<p class="empty">${props.children}</p>`;
}

export const short = (id: string | null | undefined, n = 8): string => (id ? (id.length > n + 1 ? `${id.slice(0, n)}…` : id) : '–');
