import { printJson, type RegisterCommands } from '../cli/registry';
import { loadConfig } from '../app/config';
import { connectStore } from '../pipeline/ingest/pipeline-factory';
import { FenceStore } from './fence';
import { handoverBoundMs } from './lease';
import { LeaseStore } from './lease-store';
import { MEMBERS_COLLECTION, memberViews, type MemberDoc, type OwnedPartition } from './membership';
import { controllersView, type ClusterControllersView } from './view';

/** `topic:0,1 other:2`: the partitions grouped by topic. */
function formatPartitions(tps: readonly OwnedPartition[]): string {
  const by = new Map<string, number[]>();
  for (const tp of tps) by.set(tp.topic, [...(by.get(tp.topic) ?? []), tp.partition]);
  return [...by].map(([t, ps]) => `${t}:${ps.join(',')}`).join(' ');
}

/** The human form of the controller list: who is alive, who leads what, until when. */
export function formatControllers(v: ClusterControllersView): string {
  const lines = [`controllers (store time ${v.now}; a dead leader is replaced within ${v.handover_bound_ms} ms):`];
  if (v.controllers.length === 0) lines.push('  none registered (is cluster.enabled on in the controllers?)');
  for (const c of v.controllers) {
    lines.push(`  ${c.alive ? 'alive' : 'GONE '} ${c.id.padEnd(24)} ${c.address.padEnd(32)} heartbeat ${(c.heartbeat_age_ms / 1000).toFixed(1)} s ago${c.leads.length ? `  leads ${c.leads.join(', ')}` : ''}${c.partitions?.length ? `  partitions ${formatPartitions(c.partitions)}` : ''}`);
  }
  lines.push('singletons:');
  if (v.singletons.length === 0) lines.push('  no lease taken yet');
  for (const s of v.singletons) {
    lines.push(`  ${s.role.padEnd(14)} ${s.leader ? `led by ${s.leader}` : 'free (released)'}  token ${s.token} (fence ${s.fence_token ?? '-'})${s.expires_at ? `  lease until ${s.expires_at}` : ''}`);
  }
  return lines.join('\n');
}

export const register: RegisterCommands = (program) => {
  program
    .command('controllers')
    .description('the controllers of this deployment (cluster.enabled), read from the store: alive or gone, addresses, which one leads each singleton job, lease expiry and fencing tokens')
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig(program.opts<{ config?: string }>().config);
      const { client, db } = await connectStore(config.store);
      try {
        // the store's clock where it says it (hello.localTime on MongoDB), else this host's
        const hello = await db.admin().command({ hello: 1 }).catch(() => ({}) as Record<string, unknown>);
        const now = hello.localTime instanceof Date ? hello.localTime : new Date();
        const members = memberViews(await db.collection<MemberDoc>(MEMBERS_COLLECTION).find({}).toArray(), now, config.cluster.memberTtlMs);
        const leases = await new LeaseStore(db, 5000).docs();
        const fences = await new FenceStore(db).current();
        const view = controllersView('(command line)', now, members, leases, fences, handoverBoundMs(config.cluster));
        if (opts.json) printJson(view);
        else process.stdout.write(formatControllers(view) + '\n');
      } finally {
        await client.close();
      }
    });
};
