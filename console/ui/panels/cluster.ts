import { Bars, Empty, html, Panel, Stat, useConsole, usePoll } from '../lib';
import { formatBytes, formatCount, formatTime } from '../units';

interface Cluster {
  topology: { kind: string; server?: string; version?: string; setName?: string };
  sharded: boolean;
  note?: string;
  shards: Array<{ name: string; hosts?: string[]; draining?: boolean; ownedBytes?: number; ownedDocs?: number }>;
  balancer?: { mode?: string; inBalancerRound?: boolean; rounds?: number };
  storage?: { dataBytes?: number; storageBytes?: number; indexBytes?: number; objects?: number };
  shardCount: number;
  policy: { minShards: number; maxShards: number; canAdd: boolean; canRemove: boolean };
  loop: { enabled: boolean; actuate: boolean; running: boolean; rounds: number; lastEvaluation: string | null; actuation?: string };
}

export function ClusterPanel() {
  const { api } = useConsole();
  const poll = usePoll(() => api.get<Cluster>('/v1/cluster'));
  const c = poll.data;
  return html`<${Panel} name="cluster" title="Cluster" poll=${poll}>
    ${c
      ? html`
      <div class="stats">
        <${Stat} label="topology" value=${c.sharded ? `sharded, ${c.shardCount} shards` : c.topology.kind} note=${[c.topology.server, c.topology.version && `MongoDB ${c.topology.version}`, c.topology.setName].filter(Boolean).join(', ')} />
        <${Stat} label="shards vs scaler bounds" value=${`${c.shardCount} of ${c.policy.minShards}–${c.policy.maxShards}`} note=${`can add: ${c.policy.canAdd ? 'yes' : 'no'}, can remove: ${c.policy.canRemove ? 'yes' : 'no'}`} />
        <${Stat} label="balancer" value=${c.balancer?.mode ?? 'n/a'} note=${c.balancer ? `${c.balancer.inBalancerRound ? 'in a round' : 'idle'}, ${formatCount(c.balancer.rounds)} rounds` : 'no balancer (not sharded)'} />
        <${Stat} label="metering data" value=${formatBytes(c.storage?.dataBytes)} note=${`${formatCount(c.storage?.objects)} documents, indexes ${formatBytes(c.storage?.indexBytes)}`} />
        <${Stat} label="control loop" value=${c.loop.enabled ? (c.loop.running ? 'running' : 'enabled') : 'off'} note=${`${c.loop.actuate ? 'actuates' : 'records only'}; last evaluation ${formatTime(c.loop.lastEvaluation)}`} />
      </div>
      ${c.note ? html`<p class="note">${c.note}</p>` : null}
      ${c.shards.length
        ? html`<${Bars} caption="Data owned per shard" rows=${c.shards.map((s) => ({ label: `${s.name}${s.draining ? ' (draining)' : ''}`, value: s.ownedBytes ?? 0, text: `${formatBytes(s.ownedBytes)}, ${formatCount(s.ownedDocs)} docs` }))} />
          <div class="table-wrap"><table><thead><tr><th scope="col">shard</th><th scope="col">members</th></tr></thead>
          <tbody>${c.shards.map((s) => html`<tr><td>${s.name}</td><td>${(s.hosts ?? []).join(', ') || '–'}</td></tr>`)}</tbody></table></div>`
        : html`<${Empty}>No shards to show: ${c.sharded ? 'the cluster reports none' : 'the store is not a sharded cluster'}.<//>`}`
      : null}
  <//>`;
}
