/// <reference lib="dom" />
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { api, ApiError, forgetToken, storedToken, storeToken } from './api';
import { Ctx, html, type ConsoleContext, type Session } from './lib';
import { ClusterPanel } from './panels/cluster';
import { CompliancePanel } from './panels/compliance';
import { InvoicesPanel } from './panels/invoices';
import { PipelinePanel } from './panels/pipeline';
import { PredictionsPanel } from './panels/predictions';
import { ProfilesPanel } from './panels/profiles';
import { ScalerPanel } from './panels/scaler';
import { UsagePanel } from './panels/usage';

/**
 * The operator console: sign in with an API token (kept in sessionStorage for this tab, sent only
 * as a bearer header), then the panels the token's roles and project scope allow. Operator panels
 * (pipeline, cluster, scaler) cover every project and are shown to unscoped tokens only.
 */
const PANELS: Array<{ name: string; title: string; operator: boolean; view: () => unknown }> = [
  { name: 'pipeline', title: 'Pipeline', operator: true, view: PipelinePanel },
  { name: 'cluster', title: 'Cluster', operator: true, view: ClusterPanel },
  { name: 'scaler', title: 'Scaler', operator: true, view: ScalerPanel },
  { name: 'profiles', title: 'Profiles', operator: false, view: ProfilesPanel },
  { name: 'predictions', title: 'Predictions', operator: false, view: PredictionsPanel },
  { name: 'usage', title: 'Usage', operator: false, view: UsagePanel },
  { name: 'invoices', title: 'Invoices', operator: false, view: InvoicesPanel },
  { name: 'compliance', title: 'Compliance', operator: false, view: CompliancePanel },
];

function SignIn(props: { onToken: (t: string) => void; error?: string }) {
  const [token, setToken] = useState('');
  return html`<main class="signin" id="main">
    <h1>Metering console</h1>
    <form onSubmit=${(e: Event) => { e.preventDefault(); if (token.trim()) props.onToken(token.trim()); }} aria-describedby="signin-help">
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="off" spellcheck=${false} required value=${token} onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)} />
      <p id="signin-help" class="muted">A token from controller.auth.tokens with the read role. It stays in this tab only (session storage) and is sent as a bearer header, never in a URL.</p>
      ${props.error ? html`<p class="error" role="alert">${props.error}</p>` : null}
      <button type="submit">Sign in</button>
    </form>
  </main>`;
}

function App() {
  const [token, setToken] = useState<string | null>(storedToken());
  const [session, setSession] = useState<Session | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    if (!token) return;
    api(token)
      .get<Session>('/v1/console/session')
      .then(
        (s) => {
          storeToken(token);
          setSession(s);
          setError(undefined);
        },
        (err: Error) => {
          forgetToken();
          setToken(null);
          // 401 says why: unknown, or `token "…" expired at …`
          setError(err instanceof ApiError && err.status === 401 ? (err.message === 'unknown token' ? 'Unknown token.' : `Refused: ${err.message}.`) : err instanceof ApiError && err.status === 403 ? 'This token lacks the read role.' : `Sign-in failed: ${err.message}`);
        },
      );
  }, [token]);
  if (!token || (!session && error)) return html`<${SignIn} onToken=${setToken} error=${error} />`;
  if (!session) return html`<main id="main"><p role="status">Signing in…</p></main>`;
  const signOut = (reason?: string) => {
    forgetToken();
    setSession(undefined);
    setToken(null);
    setError(reason);
  };
  // a token rotated away (SIGHUP reload) or past its expiry ends the session with the controller's reason
  const ctx: ConsoleContext = { api: api(token, (reason) => signOut(`Signed out: ${reason}.`)), session, isAdmin: session.roles.includes('admin') };
  const shown = PANELS.filter((p) => !p.operator || session.project === null);
  return html`<${Ctx.Provider} value=${ctx}>
    <a class="skip" href="#main">Skip to the panels</a>
    <header class="top">
      <h1>Metering console</h1>
      <nav aria-label="panels"><ul>${shown.map((p) => html`<li><a href=${`#${p.name}`}>${p.title}</a></li>`)}</ul></nav>
      <div class="who" data-testid="who">
        <span>${session.name}</span>
        <span class="badge">${session.roles.join(', ')}</span>
        ${session.project ? html`<span class="badge warn">project ${session.project}</span>` : html`<span class="badge">all projects</span>`}
        <button type="button" onClick=${() => signOut()}>Sign out</button>
      </div>
    </header>
    <main id="main" tabindex="-1">
      ${shown.map((p) => html`<${p.view as () => null} key=${p.name} />`)}
    </main>
  <//>`;
}

render(html`<${App} />`, document.getElementById('app')!);
