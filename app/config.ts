import { z } from 'zod';
import { controllerConfig, redisConfig } from '../controller/config';
import { ingestConfig, kafkaConfig, storeConfig } from '../pipeline/config';
import { estimatorConfig } from '../estimator/config';
import { profilerConfig } from '../profiler/config';
import { scalerConfig } from '../scaler/config';
import { mediationConfig, ratingConfig } from '../billing/config';
import { amqpConfig } from '../pipeline/amqp/config';
import { complianceConfig } from '../compliance/config';
import { agentConfig } from '../agent/config';
import { monitorConfig } from '../pipeline/monitor/config';
import { consoleConfig } from '../console/config';
import { loadConfigWith, parseConfigWith, type ConfigSpec, type EnvOverride } from '../config/load';
import { clusterConfig } from '../cluster/config';

const asObject = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/** Defaults that follow another setting: scaler.database is store.database unless written out. */
export function deriveDefaults(value: unknown): unknown {
  const root = asObject(value);
  const database = asObject(root?.store)?.database;
  if (!root || typeof database !== 'string') return value;
  const scaler = asObject(root.scaler) ?? (root.scaler === undefined ? {} : undefined);
  if (!scaler || scaler.database !== undefined) return value;
  return { ...root, scaler: { ...scaler, database } };
}

const sections = z
  .strictObject({
    controller: controllerConfig,
    store: storeConfig,
    ingest: ingestConfig,
    kafka: kafkaConfig,
    amqp: amqpConfig,
    redis: redisConfig,
    estimator: estimatorConfig,
    profiler: profilerConfig,
    scaler: scalerConfig,
    mediation: mediationConfig,
    rating: ratingConfig,
    compliance: complianceConfig,
    agent: agentConfig,
    monitor: monitorConfig,
    console: consoleConfig,
    cluster: clusterConfig,
  })
  .superRefine((c, ctx) => {
    // The autoscaler shards and counts the samples the store writes: one database, one collection.
    if (c.scaler.database !== c.store.database) {
      ctx.addIssue({ code: 'custom', path: ['scaler', 'database'], message: `must be the store's database (store.database: ${c.store.database}): the scaler shards and measures the samples the store writes` });
    }
    if (c.scaler.collection !== 'meter') {
      ctx.addIssue({ code: 'custom', path: ['scaler', 'collection'], message: 'must be meter, the collection samples are stored in' });
    }
  });

/**
 * The whole of metering.yaml: one section per component, each defined (and documented) next to the
 * code that uses it. Every key has a default, so an empty file is a valid configuration. This file
 * is the one place that assembles it (the composition root, with app/modules.ts and app/commands.ts);
 * config/ holds the generic loader it is read with and imports no component.
 */
export const meteringConfig = z.preprocess(deriveDefaults, sections);

export type MeteringConfig = z.output<typeof meteringConfig>;

/**
 * Environment variables that override connection strings and secrets (they win over the file).
 * Path → variable. Only applied when the variable is set and non-empty.
 */
export const ENV_OVERRIDES: readonly EnvOverride[] = [
  { env: 'MONGODB_URI', path: ['store', 'uri'] },
  { env: 'KAFKA_BROKERS', path: ['kafka', 'brokers'], parse: (v) => v.split(',').map((s) => s.trim()).filter(Boolean) },
  { env: 'REDIS_URL', path: ['redis', 'url'] },
  { env: 'AMQP_URL', path: ['amqp', 'url'] },
  { env: 'METERING_TELEMETRY_SECRET', path: ['ingest', 'telemetrySecret'] },
  { env: 'METERING_PORT', path: ['controller', 'port'], parse: (v) => Number(v) },
];

const spec: ConfigSpec<typeof meteringConfig> = { schema: meteringConfig, envOverrides: ENV_OVERRIDES };

/** Validate metering.yaml text. Throws YamlValidationError naming file, line and key of every problem. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): MeteringConfig {
  return parseConfigWith(spec, text, file, env);
}

/**
 * Load the effective configuration: `file` if given; else ./metering.yaml when present; else the
 * embedded defaults. Environment overrides apply in every case.
 */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): MeteringConfig {
  return loadConfigWith(spec, file, env);
}
