import { volumeNumber } from '../pipeline/ceilometer/bson-numbers';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DemoStep } from '../cli/demo-context';
import type { Sample } from '../pipeline/sample';
import { COLLECTIONS, type MeterDoc } from '../pipeline/store/layout';
import { DEMO_VMS } from '../profiler/demo';
import { traceVmIdentity } from '../profiler/trace-samples';
import type { Alert } from './alerts';
import type { ComplianceModule } from './module';

/** The demo's compute host (the trace sampler's `instance_host`) and the facts its host agent publishes. */
const HOST = 'compute-01';
const HOST_FACTS = { cpu_model: 'Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz', architecture: 'x86_64', cpu_cores: 40 };
/** Replayed VMs that get tagged as running the licensed database. */
const TAGGED = 3;

/**
 * Demo chapter: licence compliance on the demo's own VMs. Three of the replayed Bitbrains VMs are
 * tagged as running `oracle-db` (server metadata `metering.product`, which Ceilometer passes on as
 * `user_metadata.product`) in their next poll, the host agent reports the host's CPU, and a licence
 * covering their project for one vCPU less than they use is recorded through `POST /v1/licenses`.
 * The live rules find the one violation (`cores-exceeded`), raise an alert, and the read-only report
 * (HTML with the cores chart) is written to the output directory.
 */
export const complianceDemoStep: DemoStep = {
  title: 'Licence compliance: licences on the demo VMs, one violation found and reported',
  async run(ctx) {
    const mod = ctx.app.modules.find((m) => m.name === 'compliance') as ComplianceModule | undefined;
    if (!mod?.monitor) throw new Error('the compliance module is not running (compliance.enabled: false)');
    await mod.ready;
    const names = (ctx.state.get('replay.vms') as string[] | undefined) ?? DEMO_VMS;
    const meter = ctx.app.services.db.collection<MeterDoc>(COLLECTIONS.meter);
    const vms: Array<{ name: string; doc: MeterDoc }> = [];
    for (const name of names) {
      const doc = await meter.find({ resource_id: traceVmIdentity(name).instanceId, counter_name: 'vcpus' }).sort({ timestamp: -1 }).limit(1).next();
      if (doc) vms.push({ name, doc });
      if (vms.length === TAGGED) break;
    }
    if (vms.length < TAGGED) throw new Error(`needs ${TAGGED} replayed VMs in the store (the ingestion chapter); found ${vms.length}`);

    // Their next poll carries the product tag; the host agent's sample carries the host's facts.
    const t = new Date(Math.floor(Date.now() / 1000) * 1000);
    const project = vms[0]!.doc.project_id!;
    const polls: Sample[] = vms.map(({ doc }) => ({
      counter_name: 'vcpus',
      counter_type: 'gauge',
      counter_unit: 'vcpu',
      counter_volume: volumeNumber(doc.counter_volume),
      user_id: doc.user_id,
      project_id: doc.project_id,
      resource_id: doc.resource_id,
      timestamp: t,
      resource_metadata: { ...doc.resource_metadata, user_metadata: { ...((doc.resource_metadata.user_metadata as object) ?? {}), product: 'oracle-db' } },
      source: doc.source,
      message_id: randomUUID(),
      message_signature: '',
    }));
    const hostSample: Sample = { counter_name: 'host.cpu.util', counter_type: 'gauge', counter_unit: '%', counter_volume: 35, user_id: null, project_id: null, resource_id: HOST, timestamp: new Date(t.getTime() - 60_000), resource_metadata: { ...HOST_FACTS }, source: 'host-agent', message_id: randomUUID(), message_signature: '' };
    const stored = await ctx.app.ingestion.ingestor.submit([hostSample, ...polls]);
    const used = polls.reduce((s, p) => s + p.counter_volume, 0);
    ctx.say(`Tagged VMs ${vms.map((v) => `${v.name} (${v.doc.counter_volume} vCPUs)`).join(', ')} with metering.product=oracle-db on host ${HOST} (${HOST_FACTS.cpu_model}); stored ${stored.stored} samples`);

    const license = { id: 'ora-demo', product: 'oracle-db', match: { project_id: project }, cores: used - 1, cores_per_instance: 64, architecture: 'x86_64', cpu_models: ['Intel(R) Xeon(R) Gold*'], valid_from: '2026-01-01', valid_to: '2036-01-01' };
    const rec = (await ctx.call('POST', '/v1/licenses', license)).json<{ created: boolean; record: { version: number; created_by: string; created_at: string; record_hash: string } }>();
    ctx.say(`Licence ora-demo recorded (POST /v1/licenses): version ${rec.record.version} by ${rec.record.created_by} at ${rec.record.created_at}: ${license.cores} vCPUs for project ${project.slice(0, 8)}…, x86_64, Intel Xeon Gold; hash ${rec.record.record_hash.slice(0, 12)}…`);

    await mod.flush();
    const { alerts } = (await ctx.call('GET', '/v1/compliance/alerts?state=open')).json<{ alerts: Alert[] }>();
    const mine = alerts.filter((a) => a.license_id === 'ora-demo');
    for (const a of mine) ctx.say(`ALERT ${a.kind}: licence ${a.license_id}${a.resource_id ? ` instance ${a.resource_id}` : ''}: assigned ${JSON.stringify(a.assigned)}, actual ${JSON.stringify(a.actual)} (first seen at ${a.opened_at}, resting on samples ${a.samples.map((s) => s.id.slice(0, 8)).join(', ')})`);
    if (mine.length !== 1 || mine[0]!.kind !== 'cores-exceeded') throw new Error(`expected one cores-exceeded alert for ora-demo, got ${JSON.stringify(mine.map((a) => a.kind))}`);

    const at = encodeURIComponent(t.toISOString());
    const report = (await ctx.call('GET', `/v1/compliance/report?at=${at}&hours=1&points=13`)).json<{ licenses: Array<{ id: string; status: string; cores_used: number; cores: number }>; unverified: unknown[]; samples: unknown[] }>();
    const lic = report.licenses.find((l) => l.id === 'ora-demo')!;
    ctx.say(`Report at ${t.toISOString()}: ora-demo ${lic.status}, ${lic.cores_used} vCPUs used of ${lic.cores} licensed; host checks passed (x86_64, Xeon Gold); ${report.unverified.length} unverified; rests on ${report.samples.length} samples (ids and times listed in the report)`);
    const html = (await ctx.call('GET', `/v1/compliance/report?at=${at}&hours=1&points=13&format=html`)).body;
    const file = path.join(ctx.outDir, 'compliance-report.html');
    await writeFile(file, html);
    ctx.say(`Read-only HTML report with the chart of vCPUs used vs licensed: ${path.relative(process.cwd(), file)}`);
  },
};
