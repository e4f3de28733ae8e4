import { parseYaml, type YamlSource } from '../config/yaml-source';
import { estimatorConfig, type EstimatorConfig } from './config';
import { parseHot } from './heat/parse';
import { analyzeStack, environmentFromYaml, type Mult, type StackInventory } from './heat/analyze';
import { meterCatalog, type Catalog, type MeterScope } from './meters';
import { defaultPolling, scheduleMeters, type PollingConfig, type ScheduledMeter } from './polling';
import { avgObjSizeFromDbStats, meterSize, type SizeModel } from './event-size';
import { pollsIn, type StackPlan } from './generator';
import type { CounterType } from '../pipeline/sample';

/**
 * The data-size estimate for a Heat stack: resources → meters → events per period → bytes.
 *
 * Definitions (docs/estimator.md):
 * - a series is one (meter, resource id); `resources` of a meter = its number of series;
 * - events in a period P = Σ series × ⌈P / interval⌉ (a poll at the period start, then every interval);
 * - events per interval = Σ series × (smallest interval / interval): the mean number of events in one
 *   smallest polling interval;
 * - day = 86 400 s, week = 7 days, month = 30 days (configurable);
 * - bytes (per-meter method) = Σ events × that meter's size; avg_event_bytes = bytes / events.
 */

export type TextOrYaml = YamlSource | { text: string; file: string };

export interface EstimateInput {
  template: TextOrYaml;
  /** Caller parameter values (strings from a CLI are typed per the parameter's type). */
  params?: Record<string, unknown>;
  environment?: TextOrYaml;
  /** Default: the embedded Ceilometer master polling.yaml. */
  pollingConfig?: PollingConfig;
  sizeModel?: SizeModel;
  /** Reads nested templates and get_file targets (absolute path → text). */
  readFile?: (file: string) => string;
  /** The estimator config section (flavors, catalog, size priors, periods); defaults apply. */
  config?: Partial<EstimatorConfig>;
  stackName?: string;
  /** `OS::stack_id` as Heat assigns it (onboarding); default: derived from the stack name. */
  stackId?: string;
}

export interface MeterEstimate {
  name: string;
  type: CounterType;
  unit: string;
  scope: MeterScope;
  /** Number of series (resource ids) of this meter in the stack. */
  resources: number;
  interval_s: number;
  events_per_day: number;
  bytes_per_event: number;
  size_source: string;
  derived_from?: string;
}

export interface PeriodFigures {
  per_day: number;
  per_week: number;
  per_month: number;
}

export interface Estimate {
  stack: string;
  template: string;
  polling: { file: string; format: string };
  catalog: Catalog;
  resources: Record<string, number>;
  meters: MeterEstimate[];
  events: PeriodFigures & { interval_s: number; per_interval: number };
  avg_event_bytes: number;
  /** The paper's overall average: mean of the per-meter sizes (unweighted). */
  avg_event_bytes_mean_of_meters: number;
  size_method: SizeModel['method'];
  bytes: PeriodFigures;
  upper_bound?: { resources: Record<string, number>; events: PeriodFigures & { per_interval: number }; bytes: PeriodFigures };
  warnings: string[];
  /** Input for generateStackSamples (not part of the JSON output). */
  plan: StackPlan;
}

const isSource = (t: TextOrYaml): t is YamlSource => 'lineOf' in t;
const toYaml = (t: TextOrYaml): YamlSource => (isSource(t) ? t : parseYaml(t.text, t.file));

/** Series per meter scope at the expected ('expected') or maximum ('upper') stack size. */
export function seriesCounts(inv: StackInventory, which: keyof Mult): Record<MeterScope, number> {
  const c: Record<MeterScope, number> = {
    instance: 0, vnic: 0, disk: 0, volume: 0, floating_ip: 0, container: 0, account: 0,
    loadbalancer: 0, listener: 0, pool: 0, member: 0, health_monitor: 0,
  };
  for (const u of inv.units) {
    const n = u.count[which];
    if (u.kind === 'server') {
      c.instance += n;
      c.vnic += n * u.vnics;
      c.disk += n * u.disks.length + u.attached[which];
    } else if (u.kind !== 'port') c[u.kind] += n;
  }
  c.account = c.container > 0 ? 1 : 0;
  return c;
}

export function estimateStack(input: EstimateInput): Estimate {
  const cfg = estimatorConfig.parse(input.config ?? {});
  const parsed = isSource(input.template) ? { src: input.template, warnings: [] } : parseHot(input.template.text, input.template.file);
  const template = parsed.src;
  const environment = input.environment ? environmentFromYaml(toYaml(input.environment)) : undefined;
  const inventory = analyzeStack({
    template, params: input.params, environment, flavors: cfg.flavors, readFile: input.readFile, stackName: input.stackName, stackId: input.stackId,
  });
  const polling = input.pollingConfig ?? defaultPolling();
  const catalog: Catalog = cfg.catalog ?? (polling.format === 'polling' ? 'master' : 'legacy');
  const sched = scheduleMeters(meterCatalog(catalog), polling);
  const sizeModel: SizeModel = input.sizeModel ?? { method: cfg.size_method, overrides: cfg.size_priors };
  if (sizeModel.method === 'dbstats' && !sizeModel.dbStats) throw new Error('size method dbstats needs a dbStats result (objects, avgObjSize[, dataSize])');
  const warnings = [...parsed.warnings, ...inventory.warnings, ...sched.warnings];

  const expected = seriesCounts(inventory, 'expected');
  const upper = seriesCounts(inventory, 'upper');
  const used = sched.meters.filter((m) => expected[m.scope] > 0 || upper[m.scope] > 0);
  const planMeters: ScheduledMeter[] = used.filter((m) => expected[m.scope] > 0);
  const catalogDefs = new Map(meterCatalog(catalog).map((d) => [d.name, d]));
  const sizeOf = (m: ScheduledMeter) => {
    const src = m.derived_from ? catalogDefs.get(m.derived_from) : undefined;
    return meterSize(sizeModel, m.name, src ? { from: src.name, unit: m.unit, fromUnit: src.unit } : undefined);
  };
  const sizes = new Map(used.map((m) => [m.name, sizeOf(m)]));
  const meanOfMeters = used.length ? [...sizes.values()].reduce((a, s) => a + s.bytes, 0) / sizes.size : 0;
  const dbAvg = sizeModel.dbStats ? avgObjSizeFromDbStats(sizeModel.dbStats) : 0;

  const figures = (counts: Record<MeterScope, number>) => {
    const ms = used.filter((m) => counts[m.scope] > 0);
    const minInterval = ms.length ? Math.min(...ms.map((m) => m.interval_s)) : 0;
    const period = (p: number) => {
      let events = 0;
      let bytes = 0;
      for (const m of ms) {
        const e = counts[m.scope] * pollsIn(p, m.interval_s);
        events += e;
        bytes += e * sizes.get(m.name)!.bytes;
      }
      if (sizeModel.method === 'mean-of-meters') bytes = events * meanOfMeters;
      if (sizeModel.method === 'dbstats') bytes = events * dbAvg;
      return { events, bytes: Math.round(bytes), avg: events ? bytes / events : 0 };
    };
    const d = period(cfg.periods.day_s);
    const w = period(cfg.periods.week_s);
    const mo = period(cfg.periods.month_s);
    const perInterval = ms.reduce((a, m) => a + (counts[m.scope] * minInterval) / m.interval_s, 0);
    return {
      ms, minInterval, avg: d.avg,
      events: { interval_s: minInterval, per_interval: round6(perInterval), per_day: d.events, per_week: w.events, per_month: mo.events },
      bytes: { per_day: d.bytes, per_week: w.bytes, per_month: mo.bytes },
    };
  };
  const exp = figures(expected);
  const meters: MeterEstimate[] = exp.ms.map((m) => {
    const s = sizes.get(m.name)!;
    return {
      name: m.name, type: m.type, unit: m.unit, scope: m.scope, resources: expected[m.scope], interval_s: m.interval_s,
      events_per_day: expected[m.scope] * pollsIn(cfg.periods.day_s, m.interval_s),
      bytes_per_event: round6(sizeModel.method === 'dbstats' ? dbAvg : s.bytes),
      size_source: sizeModel.method === 'dbstats' ? 'dbstats' : s.source,
      ...(m.derived_from ? { derived_from: m.derived_from } : {}),
    };
  });
  if (meters.length === 0) warnings.push('no polled Ceilometer meters for this stack with this polling configuration');

  const resources = Object.fromEntries(Object.entries(inventory.resources).map(([t, c]) => [t, c.expected]));
  const estimate: Estimate = {
    stack: inventory.stackName,
    template: template.file,
    polling: { file: polling.file, format: polling.format },
    catalog,
    resources,
    meters,
    events: exp.events,
    avg_event_bytes: round6(exp.avg),
    avg_event_bytes_mean_of_meters: round6(meanOfMeters),
    size_method: sizeModel.method,
    bytes: exp.bytes,
    warnings,
    plan: { inventory, meters: planMeters },
  };
  const differs = Object.values(inventory.resources).some((c) => c.upper !== c.expected);
  if (differs) {
    const up = figures(upper);
    estimate.upper_bound = {
      resources: Object.fromEntries(Object.entries(inventory.resources).map(([t, c]) => [t, c.upper])),
      events: { per_interval: up.events.per_interval, per_day: up.events.per_day, per_week: up.events.per_week, per_month: up.events.per_month },
      bytes: up.bytes,
    };
  }
  return estimate;
}

/** Events the plan produces in a window of `periodSeconds` (what generateStackSamples emits). */
export function eventsForPeriod(estimate: Estimate, periodSeconds: number): number {
  const counts = seriesCounts(estimate.plan.inventory, 'expected');
  return estimate.plan.meters.reduce((a, m) => a + counts[m.scope] * pollsIn(periodSeconds, m.interval_s), 0);
}

/** The estimate without the generator plan: what `--json` and the HTTP route return. */
export function estimateJson(e: Estimate): Omit<Estimate, 'plan'> {
  const { plan: _plan, ...rest } = e;
  return rest;
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
