import { useMemo, useState } from 'preact/hooks';
import { aggregate, alignSeries, type Aggregation } from '../aggregate';
import { qs } from '../api';
import { TimeChart, type ChartSeries } from '../chart';
import { Empty, html, Panel, short, useConsole, usePoll } from '../lib';
import { axisUnit, formatBytes, formatPct, readable } from '../units';

interface Profile {
  vm: string;
  name: string;
  project: string | null;
  vcpus: number | null;
  memory_mb: number | null;
  headroom: { cpu_pct: number | null; memory_pct: number | null; free_cpu_cores: number; free_memory_gib: number };
  resources: Record<string, { avg: number | null }>;
}
interface QueueEntry {
  vm: string;
  name: string;
  cpu_pct: number | null;
  memory_pct: number | null;
  free_cpu_cores: number;
  free_memory_gib: number;
}
interface CatalogEntry {
  resource_id: string;
  name: string;
  project_id: string | null;
  last_sample: string | null;
  meters: Array<{ name: string; type: string; unit: string }>;
}
interface SeriesAnswer {
  step_s: number;
  from: string;
  to: string;
  series: Array<{ resource_id: string; name: string; unit: string; type: string; points: Array<{ t: number; value: number | null }> }>;
}

const WINDOWS: Array<[string, string, number]> = [
  ['15m', '15 min', 900],
  ['1h', '1 h', 3600],
  ['6h', '6 h', 6 * 3600],
  ['24h', '24 h', 86400],
  ['7d', '7 d', 7 * 86400],
  ['custom', 'custom', 0],
];

const toLocalInput = (d: Date): string => new Date(+d - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

function Queues() {
  const { api } = useConsole();
  const [resource, setResource] = useState<'cpu' | 'memory'>('cpu');
  const poll = usePoll(() => api.get<{ vms: QueueEntry[] }>(`/v1/queues${qs({ resource, order: 'free', k: 5 })}`), [resource]);
  return html`<div>
    <h3 id="queue-head">Utilisation queue: most free ${resource === 'cpu' ? 'CPU' : 'memory'}</h3>
    <div role="radiogroup" aria-labelledby="queue-head" class="segmented">
      ${(['cpu', 'memory'] as const).map((r) => html`<label><input type="radio" name="queue-resource" value=${r} checked=${resource === r} onChange=${() => setResource(r)} /> ${r === 'cpu' ? 'most free CPU' : 'most free memory'}</label>`)}
    </div>
    ${poll.data?.vms.length
      ? html`<ol class="queue">${poll.data.vms.map((v) => html`<li><strong>${v.name}</strong> ${resource === 'cpu' ? `${v.free_cpu_cores.toFixed(1)} free cores (CPU ${formatPct(v.cpu_pct)})` : `${v.free_memory_gib.toFixed(1)} GiB free (memory ${formatPct(v.memory_pct)})`}</li>`)}</ol>`
      : html`<${Empty}>No VMs profiled yet.<//>`}
  </div>`;
}

function WindowGraphs() {
  const { api } = useConsole();
  const catalog = usePoll(() => api.get<{ resources: CatalogEntry[] }>('/v1/series/catalog'), [], false);
  const resources = catalog.data?.resources ?? [];
  const meters = useMemo(() => [...new Set(resources.flatMap((r) => r.meters.map((m) => m.name)))].sort(), [resources]);
  const [meter, setMeter] = useState<string | undefined>();
  const chosenMeter = meter ?? (meters.includes('cpu_util') ? 'cpu_util' : meters[0]);
  const hosts = resources.filter((r) => r.meters.some((m) => m.name === chosenMeter));
  const [picked, setPicked] = useState<string[] | undefined>();
  const chosen = (picked ?? hosts.slice(0, 3).map((h) => h.resource_id)).filter((id) => hosts.some((h) => h.resource_id === id));
  const [win, setWin] = useState('6h');
  const [anchor, setAnchor] = useState<'data' | 'now'>('data');
  const [agg, setAgg] = useState<Aggregation>('avg');
  const [filter, setFilter] = useState('');
  const latest = Math.max(0, ...hosts.filter((h) => chosen.includes(h.resource_id)).map((h) => (h.last_sample ? Date.parse(h.last_sample) : 0)));
  // whole minutes, so the window (and the request) stays the same between renders
  const defaultTo = new Date(Math.ceil((anchor === 'now' || !latest ? Date.now() : latest + 1) / 60_000) * 60_000);
  const [customFrom, setCustomFrom] = useState<string>('');
  const [customTo, setCustomTo] = useState<string>('');
  const range = (() => {
    if (win === 'custom') {
      const to = customTo ? new Date(customTo) : defaultTo;
      const from = customFrom ? new Date(customFrom) : new Date(+to - 86400_000);
      return { from, to };
    }
    const secs = WINDOWS.find((w) => w[0] === win)![2];
    return { from: new Date(+defaultTo - secs * 1000), to: defaultTo };
  })();
  const key = `${chosenMeter}|${chosen.join(',')}|${+range.from}|${+range.to}`;
  const series = usePoll(
    () => (chosenMeter && chosen.length ? api.get<SeriesAnswer>(`/v1/series${qs({ resource_id: chosen.join(','), meter: chosenMeter, from: range.from.toISOString(), to: range.to.toISOString() })}`) : Promise.resolve(undefined)),
    [key],
    anchor === 'now',
  );
  const answer = series.data;
  const unit = answer?.series[0]?.unit ?? '';
  const { factor, label } = axisUnit(unit);
  const aligned = alignSeries((answer?.series ?? []).map((s) => ({ label: s.name, points: s.points })));
  const lines: ChartSeries[] = (answer?.series ?? []).map((s, i) => ({ label: `${s.name} (${short(s.resource_id)})`, values: aligned.values[i]!.map((v) => (v === null ? null : v * factor)) }));
  if (agg !== 'none' && lines.length > 1) lines.push({ label: `${agg} of ${lines.length}`, values: aggregate(agg, lines.map((l) => l.values), aligned.times.length), strong: true });
  const shownHosts = hosts.filter((h) => !filter || `${h.name} ${h.resource_id}`.toLowerCase().includes(filter.toLowerCase()));
  const toggle = (id: string) => setPicked(chosen.includes(id) ? chosen.filter((x) => x !== id) : [...chosen, id].slice(0, 50));
  return html`<div class="graphs">
    <h3>Time-window graphs</h3>
    <form class="controls" onSubmit=${(e: Event) => e.preventDefault()}>
      <label>Metric
        <select value=${chosenMeter} onChange=${(e: Event) => { setMeter((e.target as HTMLSelectElement).value); setPicked(undefined); }}>
          ${meters.map((m) => html`<option value=${m}>${m}</option>`)}
        </select>
      </label>
      <fieldset class="segmented"><legend>Window</legend>
        ${WINDOWS.map(([k, text]) => html`<label><input type="radio" name="window" value=${k} checked=${win === k} onChange=${() => setWin(k)} /> ${text}</label>`)}
      </fieldset>
      <fieldset class="segmented"><legend>Ending at</legend>
        <label><input type="radio" name="anchor" checked=${anchor === 'data'} onChange=${() => setAnchor('data')} /> newest data</label>
        <label><input type="radio" name="anchor" checked=${anchor === 'now'} onChange=${() => setAnchor('now')} /> now</label>
      </fieldset>
      ${win === 'custom'
        ? html`<label>From <input type="datetime-local" value=${customFrom || toLocalInput(range.from)} onChange=${(e: Event) => setCustomFrom((e.target as HTMLInputElement).value)} /></label>
            <label>To <input type="datetime-local" value=${customTo || toLocalInput(range.to)} onChange=${(e: Event) => setCustomTo((e.target as HTMLInputElement).value)} /></label>`
        : null}
      <label>Aggregate hosts
        <select value=${agg} onChange=${(e: Event) => setAgg((e.target as HTMLSelectElement).value as Aggregation)}>
          <option value="none">none</option><option value="sum">sum</option><option value="avg">average</option><option value="max">maximum</option>
        </select>
      </label>
    </form>
    <div class="graph-layout">
      <fieldset class="hosts"><legend>Hosts / VMs with ${chosenMeter ?? 'this metric'} (${chosen.length} chosen)</legend>
        <label class="filter">Filter <input type="search" value=${filter} onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)} /></label>
        <ul>${shownHosts.slice(0, 200).map((h) => html`<li><label><input type="checkbox" checked=${chosen.includes(h.resource_id)} onChange=${() => toggle(h.resource_id)} /> ${h.name} <span class="muted">${short(h.resource_id, 12)}</span></label></li>`)}</ul>
        ${hosts.length === 0 ? html`<${Empty}>No stored samples yet.<//>` : null}
      </fieldset>
      <div class="graph-main">
        ${series.error ? html`<p class="error" role="alert">${series.error}</p>` : null}
        ${chosen.length === 0 ? html`<${Empty}>Pick at least one host.<//>` : html`<${TimeChart} title=${`${chosenMeter} (${label || 'value'}), ${answer ? `${answer.step_s} s steps` : ''}`} times=${aligned.times} series=${lines} format=${(v: number) => readable(v / factor, unit)} yLabel=${label} />`}
      </div>
    </div>
  </div>`;
}

export function ProfilesPanel() {
  const { api } = useConsole();
  const poll = usePoll(() => api.get<{ count: number; vms: Profile[] }>('/v1/profiles'));
  const vms = poll.data?.vms ?? [];
  return html`<${Panel} name="profiles" title="VM profiles" poll=${poll}>
    <div class="grid2">
      <div>
        <h3>Utilisation (moving averages), most free CPU first</h3>
        ${vms.length
          ? html`<div class="table-wrap"><table><thead><tr><th scope="col">VM</th><th scope="col">vCPUs</th><th scope="col">CPU</th><th scope="col">memory</th><th scope="col">free</th><th scope="col">disk</th><th scope="col">network</th></tr></thead>
            <tbody>${vms.slice(0, 20).map(
              (v) => html`<tr>
                <th scope="row">${v.name}</th>
                <td class="num">${v.vcpus ?? '–'}</td>
                <td class="num">${formatPct(v.headroom.cpu_pct)}</td>
                <td class="num">${formatPct(v.headroom.memory_pct)}</td>
                <td class="num">${v.headroom.free_cpu_cores.toFixed(1)} cores, ${v.headroom.free_memory_gib.toFixed(1)} GiB</td>
                <td class="num">${formatBytes((v.resources['disk.read']?.avg ?? 0) + (v.resources['disk.write']?.avg ?? 0))}/s</td>
                <td class="num">${formatBytes((v.resources['network.in']?.avg ?? 0) + (v.resources['network.out']?.avg ?? 0))}/s</td>
              </tr>`,
            )}</tbody></table></div>`
          : html`<${Empty}>No VMs profiled yet: the profiler learns from the sample stream.<//>`}
      </div>
      <${Queues} />
    </div>
    <${WindowGraphs} />
  <//>`;
}
