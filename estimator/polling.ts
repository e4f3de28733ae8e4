import { z } from 'zod';
import { parseYaml, validateYaml, YamlValidationError, type YamlSource } from '../config/yaml-source';
import type { CounterType } from '../pipeline/sample';
import type { MeterDef, MeterScope } from './meters';

/**
 * The Ceilometer polling configuration: which meters are polled at which interval.
 *
 * Three file forms are understood:
 * - `polling.yaml` (8.0.0 and later): `sources: [{name, interval, meters}]`.
 * - the combined `pipeline.yaml` of 2014.1 … 7.0.0: sources carry `interval` and `sinks`, and sinks
 *   carry `transformers` (`rate_of_change`, `delta`) that derive extra meters (`cpu_util`, `*.rate`).
 * - the Havana (2013.2) list: `[{name, interval, meters, transformers, publishers}]`.
 */

/** Ceilometer master `etc/ceilometer/polling.yaml` (commit b4ccf244), embedded as the default. */
export const MASTER_POLLING_YAML = `---
sources:
    - name: some_pollsters
      interval: 300
      meters:
        - power.state
        - cpu
        - memory.available
        - memory.usage
        - network.incoming.bytes
        - network.incoming.packets
        - network.outgoing.bytes
        - network.outgoing.packets
        - disk.device.read.bytes
        - disk.device.read.requests
        - disk.device.write.bytes
        - disk.device.write.requests
        - volume.size
        - volume.snapshot.size
        - volume.backup.size
`;
export const MASTER_POLLING_FILE = '<embedded master polling.yaml>';

export interface TransformerSpec {
  name: string;
  parameters: Record<string, unknown>;
}
export interface PollingSource {
  name: string;
  interval: number;
  meters: string[];
  /** Sink names (pipeline forms); empty for polling.yaml, where every polled sample is stored. */
  sinks: string[];
}
export interface PollingSink {
  name: string;
  transformers: TransformerSpec[];
}
export interface PollingConfig {
  file: string;
  format: 'polling' | 'pipeline' | 'havana';
  sources: PollingSource[];
  sinks: PollingSink[];
}

const meterList = z.array(z.string()).min(1);
/** What a polling source has in both the polling.yaml (8.0.0+) and the combined pipeline.yaml form. */
const sourceFields = {
  name: z.string(),
  interval: z.number().int().positive(),
  meters: meterList,
  resources: z.array(z.string()).optional(),
  discovery: z.array(z.string()).optional(),
};
const pollingSchema = z.strictObject({
  sources: z.array(z.strictObject({ ...sourceFields, group_id_coordination_expression: z.string().optional() })).min(1),
});
const transformer = z.strictObject({ name: z.string(), parameters: z.record(z.string(), z.unknown()).nullish() });
const pipelineSchema = z.strictObject({
  sources: z.array(z.strictObject({ ...sourceFields, sinks: z.array(z.string()).min(1) })).min(1),
  sinks: z.array(
    z.strictObject({ name: z.string(), transformers: z.array(transformer).nullish(), publishers: z.array(z.string()) }),
  ),
});
const havanaSchema = z
  .array(
    z.strictObject({
      name: z.string(),
      interval: z.number().int().positive(),
      meters: meterList,
      transformers: z.array(transformer).nullish(),
      publishers: z.array(z.string()),
      resources: z.array(z.string()).optional(),
    }),
  )
  .min(1);

/** Parse and validate a polling/pipeline file already read as YAML; errors are file:line located. */
export function pollingFromYaml(src: YamlSource): PollingConfig {
  const v = src.value;
  if (Array.isArray(v)) {
    const items = validateYaml(src, havanaSchema);
    checkFiltering(src, items.map((s) => s.meters), (i) => [i, 'meters']);
    return {
      file: src.file,
      format: 'havana',
      sources: items.map((s) => ({ name: s.name, interval: s.interval, meters: s.meters, sinks: [s.name] })),
      sinks: items.map((s) => ({ name: s.name, transformers: (s.transformers ?? []).map(normTransformer) })),
    };
  }
  const obj = (v ?? {}) as Record<string, unknown>;
  const sources = Array.isArray(obj.sources) ? (obj.sources as Record<string, unknown>[]) : [];
  const hasSinks = 'sinks' in obj || sources.some((s) => s && typeof s === 'object' && 'sinks' in s);
  if (hasSinks) {
    const missing = sources.findIndex((s) => s && typeof s === 'object' && !('interval' in s));
    if (missing >= 0) {
      throw new YamlValidationError([
        src.issue(['sources', missing], 'pipeline.yaml source has no interval: since Ceilometer 8.0.0 intervals live in polling.yaml — pass that file instead'),
      ]);
    }
    const cfg = validateYaml(src, pipelineSchema);
    checkFiltering(src, cfg.sources.map((s) => s.meters), (i) => ['sources', i, 'meters']);
    cfg.sources.forEach((s, i) =>
      s.sinks.forEach((name, j) => {
        if (!cfg.sinks.some((k) => k.name === name)) throw new YamlValidationError([src.issue(['sources', i, 'sinks', j], `unknown sink "${name}"`)]);
      }),
    );
    return {
      file: src.file,
      format: 'pipeline',
      sources: cfg.sources.map((s) => ({ name: s.name, interval: s.interval, meters: s.meters, sinks: s.sinks })),
      sinks: cfg.sinks.map((k) => ({ name: k.name, transformers: (k.transformers ?? []).map(normTransformer) })),
    };
  }
  const cfg = validateYaml(src, pollingSchema);
  checkFiltering(src, cfg.sources.map((s) => s.meters), (i) => ['sources', i, 'meters']);
  return {
    file: src.file,
    format: 'polling',
    sources: cfg.sources.map((s) => ({ name: s.name, interval: s.interval, meters: s.meters, sinks: [] })),
    sinks: [],
  };
}

export function parsePolling(text: string, file: string): PollingConfig {
  return pollingFromYaml(parseYaml(text, file));
}

export function defaultPolling(): PollingConfig {
  return parsePolling(MASTER_POLLING_YAML, MASTER_POLLING_FILE);
}

function normTransformer(t: { name: string; parameters?: Record<string, unknown> | null }): TransformerSpec {
  return { name: t.name, parameters: t.parameters ?? {} };
}

/** Ceilometer's `check_source_filtering`: no mixing of included and excluded names, no `*` plus names. */
function checkFiltering(src: YamlSource, lists: string[][], at: (i: number) => (string | number)[]): void {
  lists.forEach((meters, i) => {
    const neg = meters.filter((x) => x.startsWith('!')).length;
    if (neg > 0 && neg < meters.length) throw new YamlValidationError([src.issue(at(i), 'both included and excluded meters specified')]);
    if (meters.includes('*') && meters.length > 1) throw new YamlValidationError([src.issue(at(i), 'including all meters ("*") together with other meters is not allowed')]);
  });
}

/** Python fnmatch.fnmatch (case-sensitive on POSIX) as a RegExp. */
export function fnmatchRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let body = pattern.slice(i + 1, end);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/** Ceilometer `Source.is_supported`: exclusions win, then inclusions; only exclusions ⇒ default allow. */
export function sourceSupportsMeter(patterns: readonly string[], meter: string): boolean {
  if (patterns.some((p) => p.startsWith('!') && fnmatchRegExp(p.slice(1)).test(meter))) return false;
  if (patterns.some((p) => !p.startsWith('!') && fnmatchRegExp(p).test(meter))) return true;
  return patterns.every((p) => p.startsWith('!'));
}

/** A meter that will be stored, at one interval (a meter polled by sources with two intervals appears twice). */
export interface ScheduledMeter {
  name: string;
  type: CounterType;
  unit: string;
  scope: MeterScope;
  interval_s: number;
  /** For transformer outputs (legacy pipelines): the polled meter it is derived from. */
  derived_from?: string;
}

/**
 * The meters of `catalog` the configuration polls, with their intervals, plus meters derived by
 * legacy transformers. Ceilometer polls a pollster once per polling cycle of each distinct interval
 * (its poll history de-duplicates resources across sources of the same interval).
 */
export function scheduleMeters(catalog: readonly MeterDef[], cfg: PollingConfig): { meters: ScheduledMeter[]; warnings: string[] } {
  const out = new Map<string, ScheduledMeter>();
  const warnings = new Set<string>();
  const add = (s: ScheduledMeter) => {
    const key = `${s.name}@${s.interval_s}`;
    if (!out.has(key)) out.set(key, s);
  };
  const sinks = new Map(cfg.sinks.map((k) => [k.name, k]));
  for (const def of catalog) {
    for (const src of cfg.sources) {
      if (!sourceSupportsMeter(src.meters, def.name)) continue;
      const base: ScheduledMeter = { name: def.name, type: def.type, unit: def.unit, scope: def.scope, interval_s: src.interval };
      if (cfg.format === 'polling') {
        add(base);
        continue;
      }
      for (const sinkName of src.sinks) {
        const sink = sinks.get(sinkName);
        if (!sink) continue;
        if (sink.transformers.length === 0) {
          add(base);
          continue;
        }
        let cur: ScheduledMeter | null = base;
        for (const t of sink.transformers) {
          if (!cur) break;
          cur = applyTransformer(t, cur, warnings, cfg.file);
        }
        if (cur) add({ ...cur, derived_from: def.name });
      }
    }
  }
  return { meters: [...out.values()], warnings: [...warnings] };
}

/** Python-style `\1` group references in a replacement → JS `$1`. */
const pyRepl = (s: string) => s.replace(/\\(\d)/g, '$$$1');

function applyTransformer(t: TransformerSpec, m: ScheduledMeter, warnings: Set<string>, file: string): ScheduledMeter | null {
  const p = t.parameters as {
    source?: { map_from?: { name?: string; unit?: string } };
    target?: { name?: string; unit?: string; type?: CounterType; map_to?: { name?: string; unit?: string } };
  };
  const target = p.target ?? {};
  if (t.name === 'rate_of_change' || t.name === 'delta' || t.name === 'unit_conversion') {
    let name = target.name ?? m.name;
    let unit = target.unit ?? m.unit;
    const from = p.source?.map_from;
    if (from?.name && target.map_to?.name) {
      const re = new RegExp(`^(?:${from.name})$`);
      if (!re.test(m.name)) return null; // Ceilometer drops samples the map does not match
      name = m.name.replace(re, pyRepl(target.map_to.name));
      if (from.unit && target.map_to.unit) unit = m.unit.replace(new RegExp(`^(?:${from.unit})$`), pyRepl(target.map_to.unit));
    }
    const type: CounterType = target.type ?? (t.name === 'delta' ? 'delta' : m.type);
    return { ...m, name, unit, type };
  }
  warnings.add(`${file}: transformer "${t.name}" is not modelled; its output for ${m.name} is not estimated`);
  return null;
}
