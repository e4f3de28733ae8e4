import { useState } from 'preact/hooks';
import { TimeChart } from '../chart';
import { Empty, html, Panel, useConsole, usePoll } from '../lib';
import { formatPct, formatTime } from '../units';

interface DecisionRecord {
  t: string;
  action: string;
  reason: string;
  shard?: string;
  count?: number;
  source?: string;
  inputs?: { shardCount?: number; shards?: Record<string, Record<string, number>> };
  outcome?: { status: string; detail?: string };
}

/** The numeric signals per shard in a decision's inputs, as `shard metric` → value. */
function signalsOf(d: DecisionRecord): Map<string, number> {
  const out = new Map<string, number>();
  for (const [shard, metrics] of Object.entries(d.inputs?.shards ?? {})) {
    for (const [k, v] of Object.entries(metrics ?? {})) if (typeof v === 'number' && Number.isFinite(v)) out.set(`${shard} ${k}`, v);
  }
  return out;
}

export function ScalerPanel() {
  const { api, isAdmin } = useConsole();
  const poll = usePoll(() => api.get<{ decisions: DecisionRecord[] }>('/v1/scaler/decisions?limit=200'));
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<string | undefined>();
  const decisions = poll.data?.decisions ?? [];
  const chrono = [...decisions].reverse();
  const names = [...new Set(chrono.flatMap((d) => [...signalsOf(d).keys()]))].filter((n) => /cpu|memory|disk|latency|ops/i.test(n)).slice(0, 8);
  const evaluate = async () => {
    setBusy(true);
    try {
      const r = await api.post<{ latest?: { action: string; reason: string } }>('/v1/scaler/evaluate');
      setMsg(r.latest ? `${r.latest.action}: ${r.latest.reason}` : 'evaluated');
      poll.reload();
    } catch (err) {
      setMsg((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return html`<${Panel} name="scaler" title="Autoscaler decisions" poll=${poll}
    actions=${isAdmin ? html`<button type="button" data-admin="evaluate" onClick=${evaluate} disabled=${busy}>${busy ? 'Evaluating…' : 'Evaluate now'}</button>` : null}>
    ${msg ? html`<p class="note" role="status">${msg}</p>` : null}
    ${names.length && chrono.length > 1
      ? html`<${TimeChart} title="Signals the policy saw (per shard)" times=${chrono.map((d) => Date.parse(d.t))} series=${names.map((n) => ({ label: n, values: chrono.map((d) => signalsOf(d).get(n) ?? null) }))} format=${(v: number) => (v <= 100 ? formatPct(v, 0) : v.toFixed(0))} height=${200} />`
      : null}
    ${decisions.length
      ? html`<ol class="timeline" aria-label="decisions, newest first">${decisions.slice(0, 30).map(
          (d) => html`<li>
            <span class=${`badge ${d.action === 'none' ? '' : 'warn'}`}>${d.action}${d.count ? ` ×${d.count}` : ''}${d.shard ? ` ${d.shard}` : ''}</span>
            <time datetime=${d.t}>${formatTime(d.t)}</time>
            <span class="reason">${d.reason}</span>
            ${d.outcome ? html`<span class="outcome">outcome: ${d.outcome.status}${d.outcome.detail ? ` (${d.outcome.detail})` : ''}</span>` : null}
            <span class="inputs">inputs: ${d.inputs?.shardCount ?? '?'} shard(s)${[...signalsOf(d)].slice(0, 4).map(([k, v]) => `; ${k} ${v.toFixed(1)}`).join('')}${d.source ? `; via ${d.source}` : ''}</span>
          </li>`,
        )}</ol>`
      : html`<${Empty}>No decisions recorded yet: the control loop is off or has not run (scaler.loop.enabled).<//>`}
  <//>`;
}
