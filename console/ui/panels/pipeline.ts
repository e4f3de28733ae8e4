import { useState } from 'preact/hooks';
import { qs } from '../api';
import { TimeChart } from '../chart';
import { Bars, Empty, html, Panel, Stat, useConsole, usePoll } from '../lib';
import { formatBytes, formatCount, formatDuration, formatRate, formatTime } from '../units';

interface Summary {
  count: number;
  avg: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  buckets: Array<{ le: number | '+Inf'; count: number }>;
}
interface Status {
  at: string;
  rate_window_s: number;
  transports: Array<{ transport: string; rate_per_s: number; series: Array<{ t: number; rate: number }> }>;
  totals: Record<string, number>;
  batch_latency_s: Summary;
  freshness_s: Summary & { newest_sample: string | null; last_stored: string | null };
  dead_letters_by_reason: Record<string, number>;
  backpressure: { state: string; in_flight_samples: number; max_in_flight_samples: number; in_flight_bytes: number; write_latency_avg_s: number; refused_429: number; refused_503: number; kafka_pauses: number };
  consumer_lag: { group: string; partitions: Array<{ topic: string; partition: number; committed: string | null; end: string; lag: number }>; total: number | null; error?: string } | null;
  last_reconciliation: { checked_at: string; ok: boolean; differing: number; missing_samples: number; unaccounted_samples: number } | null;
}
interface Letter {
  id: string;
  received_at: string;
  source: string;
  topic?: string;
  partition?: number;
  offset?: string;
  reason_class: string;
  reason: string;
  message_id: string | null;
  payload: string;
}
interface Reconciliation {
  from: string;
  to: string;
  hours: number;
  accepted_total: number;
  stored_total: number;
  resources: number;
  pairs: number;
  differing: number;
  missing_samples: number;
  unaccounted_samples: number;
  ok: boolean;
  notes: string[];
  differences: Array<{ resource_id: string; hour: string; accepted: number; stored: number; difference: number; kind: string }>;
}

/** A quantile estimate, or "> bound" when it lies beyond the highest finite bucket. */
function quantileText(v: number | null, s: Summary, format: (v: number) => string): string {
  const finite = s.buckets.filter((b) => b.le !== '+Inf');
  const top = finite.length ? (finite[finite.length - 1]!.le as number) : Infinity;
  if (v !== null && v >= top) return `> ${format(top)}`;
  return format(v ?? NaN);
}

/** Histogram buckets (cumulative) → per-bucket counts with a readable range label. */
function bucketRows(s: Summary, format: (v: number) => string) {
  let prev = 0;
  let prevLe = 0;
  return s.buckets.map((b) => {
    const n = b.count - prev;
    prev = b.count;
    const label = b.le === '+Inf' ? `> ${format(prevLe)}` : `≤ ${format(b.le)}`;
    if (b.le !== '+Inf') prevLe = b.le;
    return { label, value: n, text: formatCount(n) };
  });
}

const ALL_REASONS = '*';

function DeadLetters(props: { reason: string; onClose: () => void }) {
  const { api } = useConsole();
  const all = props.reason === ALL_REASONS;
  const poll = usePoll(() => api.get<{ letters: Letter[] }>(`/v1/pipeline/dead-letters${qs({ reason: all ? undefined : props.reason, limit: 20 })}`), [props.reason]);
  return html`<div class="drill" role="region" aria-label=${`dead letters: ${props.reason}`}>
    <div class="row-between"><h3>Dead letters: ${all ? 'the most recent' : props.reason}</h3><button type="button" onClick=${props.onClose}>Close</button></div>
    ${poll.error ? html`<p class="error" role="alert">${poll.error}</p>` : null}
    ${poll.data && poll.data.letters.length === 0 ? html`<${Empty}>None stored (dead letters may go to Kafka only: ingest.deadLetter).<//>` : null}
    ${poll.data && poll.data.letters.length > 0
      ? html`<div class="table-wrap"><table>
          <thead><tr><th scope="col">received</th><th scope="col">source</th><th scope="col">reason</th><th scope="col">payload</th></tr></thead>
          <tbody>${poll.data.letters.map(
            (l) => html`<tr>
              <td>${formatTime(l.received_at)}</td>
              <td>${l.source}${l.topic ? ` ${l.topic}[${l.partition}]@${l.offset}` : ''}</td>
              <td>${l.reason}</td>
              <td><code class="payload">${l.payload.slice(0, 160)}${l.payload.length > 160 ? '…' : ''}</code></td>
            </tr>`,
          )}</tbody></table></div>`
      : null}
  </div>`;
}

function ReconcileBox(props: { newest: string | null }) {
  const { api } = useConsole();
  const [result, setResult] = useState<Reconciliation | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      // the last day of data: ending at the newest sample stored (traces may be years old), else now
      const to = props.newest ? new Date(Date.parse(props.newest) + 3_600_000) : new Date();
      const from = new Date(+to - 24 * 3_600_000);
      setResult(await api.get<Reconciliation>(`/v1/pipeline/reconciliation${qs({ from: from.toISOString(), to: to.toISOString() })}`));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return html`<div class="recon">
    <h3>Reconciliation (ledger vs store, per resource and hour)</h3>
    <button type="button" onClick=${run} disabled=${busy}>${busy ? 'Comparing…' : 'Reconcile the last day of data'}</button>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    ${result
      ? html`<p class=${result.ok ? 'ok-text' : 'bad-text'} data-testid="reconciliation-result">
            ${formatTime(result.from)} → ${formatTime(result.to)}: ${formatCount(result.resources)} resources, ${formatCount(result.pairs)} resource-hours;
            ledger ${formatCount(result.accepted_total)} samples, store ${formatCount(result.stored_total)}.
            ${result.ok ? ' Every resource-hour matches.' : ` ${result.differing} differ: ${formatCount(result.missing_samples)} missing, ${formatCount(result.unaccounted_samples)} unaccounted.`}
          </p>
          ${result.notes.map((n) => html`<p class="note">${n}</p>`)}
          ${result.differences.length
            ? html`<div class="table-wrap"><table><thead><tr><th scope="col">hour</th><th scope="col">resource</th><th scope="col">ledger</th><th scope="col">store</th><th scope="col">kind</th></tr></thead>
              <tbody>${result.differences.slice(0, 20).map((d) => html`<tr><td>${formatTime(d.hour)}</td><td>${d.resource_id}</td><td class="num">${formatCount(d.accepted)}</td><td class="num">${formatCount(d.stored)}</td><td>${d.kind}</td></tr>`)}</tbody></table></div>`
            : null}`
      : null}
  </div>`;
}

export function PipelinePanel() {
  const { api } = useConsole();
  const poll = usePoll(() => api.get<Status>('/v1/pipeline/status'));
  const [reason, setReason] = useState<string | undefined>();
  const s = poll.data;
  const bp = s?.backpressure;
  const series = s?.transports ?? [];
  const times = series[0]?.series.map((p) => p.t) ?? [];
  const reasons = Object.entries(s?.dead_letters_by_reason ?? {});
  return html`<${Panel} name="pipeline" title="Pipeline" poll=${poll}>
    ${s
      ? html`
      <div class="stats">
        ${series.map((t) => html`<${Stat} label=${`ingest rate, ${t.transport}`} value=${formatRate(t.rate_per_s)} note=${`over the last ${s.rate_window_s} s`} />`)}
        ${series.length === 0 ? html`<${Stat} label="ingest rate" value="no samples yet" />` : null}
        <${Stat} label="back-pressure" value=${bp!.state} tone=${bp!.state === 'ok' ? 'ok' : bp!.state === 'store-down' ? 'bad' : 'warn'} note=${`${formatCount(bp!.in_flight_samples)} of ${formatCount(bp!.max_in_flight_samples)} samples in flight; refused 429 ×${bp!.refused_429}, 503 ×${bp!.refused_503}`} />
        <${Stat} label="consumer lag" value=${s.consumer_lag ? (s.consumer_lag.total === null ? 'unknown' : `${formatCount(s.consumer_lag.total)} messages`) : 'no Kafka consumer'} note=${s.consumer_lag?.error ?? (s.consumer_lag ? `group ${s.consumer_lag.group}` : undefined)} tone=${s.consumer_lag?.error ? 'bad' : undefined} />
        <${Stat} label="batch write latency" value=${`p50 ${quantileText(s.batch_latency_s.p50, s.batch_latency_s, formatDuration)}`} note=${`p95 ${quantileText(s.batch_latency_s.p95, s.batch_latency_s, formatDuration)}, ${formatCount(s.batch_latency_s.count)} batches`} />
        <${Stat} label="end-to-end freshness" value=${`p50 ${quantileText(s.freshness_s.p50, s.freshness_s, formatDuration)}`} note=${`p95 ${quantileText(s.freshness_s.p95, s.freshness_s, formatDuration)}; newest sample ${formatTime(s.freshness_s.newest_sample)}`} />
        <${Stat} label="stored" value=${`${formatCount(s.totals.stored)} samples`} note=${`${formatBytes(s.totals.stored_bytes)}; ${formatCount(s.totals.duplicates)} duplicates not stored again`} />
      </div>
      <${TimeChart} title="Samples accepted per second, per transport (last 10 minutes)" times=${times} series=${series.map((t) => ({ label: t.transport, values: t.series.map((p) => p.rate) }))} format=${(v: number) => formatRate(v, '')} height=${200} />
      <div class="grid2">
        <${Bars} caption="Batch write latency (batches per bucket)" rows=${bucketRows(s.batch_latency_s, formatDuration)} />
        <${Bars} caption="Freshness: sample time → stored (samples per bucket)" rows=${bucketRows(s.freshness_s, formatDuration)} />
      </div>
      <div class="grid2">
        <div>
          <h3>Consumer lag per partition</h3>
          ${s.consumer_lag && s.consumer_lag.partitions.length
            ? html`<div class="table-wrap"><table><thead><tr><th scope="col">topic</th><th scope="col">partition</th><th scope="col">committed</th><th scope="col">end</th><th scope="col">lag</th></tr></thead>
              <tbody>${s.consumer_lag.partitions.map((p) => html`<tr><td>${p.topic}</td><td class="num">${p.partition}</td><td class="num">${p.committed ?? 'none'}</td><td class="num">${p.end}</td><td class="num">${formatCount(p.lag)}</td></tr>`)}</tbody></table></div>`
            : html`<${Empty}>${s.consumer_lag?.error ? `Kafka did not answer: ${s.consumer_lag.error}` : 'No Kafka consumer in this controller.'}<//>`}
        </div>
        <div>
          <h3>Dead letters by reason</h3>
          ${reasons.length
            ? html`<ul class="reasons">${reasons.map(([r, n]) => html`<li><button type="button" class="link" aria-expanded=${reason === r} onClick=${() => setReason(reason === r ? undefined : r)}>${r}</button> <span class="num">${formatCount(n)}</span></li>`)}</ul>`
            : html`<${Empty}>No dead letters since the controller started.<//>`}
          <button type="button" class="link" aria-expanded=${reason === ALL_REASONS} onClick=${() => setReason(reason === ALL_REASONS ? undefined : ALL_REASONS)}>the most recent stored dead letters, any reason</button>
        </div>
      </div>
      ${reason ? html`<${DeadLetters} reason=${reason} onClose=${() => setReason(undefined)} />` : null}
      <${ReconcileBox} newest=${s.freshness_s.newest_sample} />`
      : null}
  <//>`;
}
