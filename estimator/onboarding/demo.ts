import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DemoStep } from '../../cli/demo-context';
import { DEFAULT_INTERVALS, measureAccuracy } from '../accuracy/measure';
import { writeAccuracyReport } from '../accuracy/report';
import { periodSeconds } from './compare';

/** Used when ../shared is not beside the checkout: two servers with a volume each. */
const EMBEDDED_TEMPLATE = `heat_template_version: 2016-10-14
description: two web servers with a data volume each (embedded demo template)
parameters:
  flavor: {type: string, default: m1.small}
resources:
  web:
    type: OS::Heat::ResourceGroup
    properties:
      count: 2
      resource_def:
        type: OS::Nova::Server
        properties: {flavor: {get_param: flavor}, image: cirros, networks: [{network: private}]}
  data:
    type: OS::Cinder::Volume
    properties: {size: 10}
`;

const pct = (x: number) => `${(x * 100).toFixed(3)} %`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

/**
 * The estimator chapter: a Heat onboarding hook call for a real corpus template (estimate, predictor
 * recommendation, predictive scale-out handover), then the stack's samples for a simulated day pushed
 * through the real ingestion path and the estimate compared with what the store holds.
 */
export const onboardingDemoStep: DemoStep = {
  title: 'Heat onboarding: predict a new stack\'s metering data, then replay it and compare',
  async run(ctx) {
    const real = ctx.shared ? path.join(ctx.shared, 'corpus/heat-templates/hot/asg_of_servers.yaml') : undefined;
    const file = real && existsSync(real) ? real : path.join(ctx.outDir, 'demo-stack.yaml');
    if (file !== real) writeFileSync(file, EMBEDDED_TEMPLATE);
    const params = { key_name: 'demo-key', image: 'cirros-0.6' };
    ctx.say(`template: ${path.relative(process.cwd(), file)}`);

    const res = await ctx.call('POST', '/v1/onboarding/heat', { stack_id: 'demo-stack-0001', project_id: 'demo-project', template: readFileSync(file, 'utf8'), parameters: params });
    const body = res.json<{ prediction_id: string; estimate: any; recommendation: any }>();
    const est = body.estimate;
    ctx.state.set('estimate', est);
    ctx.say(`POST /v1/onboarding/heat → prediction ${body.prediction_id}`);
    ctx.say(`  resources: ${Object.entries(est.resources).map(([t, n]) => `${n} × ${t}`).join(', ')}`);
    ctx.say(`  ${est.meters.length} meters; ${est.events.per_interval} events every ${est.events.interval_s} s; ${est.events.per_day} events/day; ${est.avg_event_bytes.toFixed(1)} B per event`);
    ctx.say(`  bytes: ${mib(est.bytes.per_day)}/day, ${mib(est.bytes.per_week)}/week, ${mib(est.bytes.per_month)}/month${est.upper_bound ? ` (upper bound at max_size: ${mib(est.upper_bound.bytes.per_month)}/month)` : ''}`);
    ctx.say(`  recommendation: ${body.recommendation.summary}`);
    const sc = body.recommendation.scaler;
    ctx.say(`  scaler: ${sc.registered ? `predictive scale-out registered (data arrives ${sc.arrives_at}, policy acts from ${sc.trigger_at})` : `not registered: ${sc.reason}`}`);

    ctx.say('replaying one simulated day of the stack through the ingestion path (observed sizes from a staging copy, as in the paper)…');
    const report = await measureAccuracy({
      client: ctx.app.services.mongo,
      dbPrefix: `${ctx.config.store.database}_acc`,
      store: ctx.config.store,
      ingest: ctx.config.ingest,
      templates: [{ file, params }],
      periods: ['day'],
      intervals: DEFAULT_INTERVALS,
      periodSeconds: periodSeconds(ctx.config.estimator.periods),
    });
    for (const c of report.cases) {
      ctx.say(`  ${c.period}: events estimated ${c.events.estimated} vs stored ${c.events.actual} (${pct(c.events.accuracy)}); bytes ${c.bytes.estimated} vs ${c.bytes.actual} (${pct(c.bytes.accuracy)}; priors only ${pct(c.bytes_priors.accuracy)})`);
    }
    ctx.say(`  actual bytes measured as: ${report.actual_bytes_method}`);
    const dir = path.join(ctx.outDir, 'accuracy');
    mkdirSync(dir, { recursive: true });
    const out = writeAccuracyReport(report, dir);
    ctx.say(`  overall ${pct(report.overall.bytes.accuracy)} (target ≥ ${pct(report.target)}: ${report.met ? 'met' : 'MISSED'}); plot ${path.relative(process.cwd(), out.svg)}`);
  },
};
