import type { FastifyInstance } from 'fastify';
import type { Admin, Kafka } from 'kafkajs';
import type { MongoClient, Db } from 'mongodb';
import type { Logger } from 'pino';
import type { MeteringConfig } from '../app/config';
import { connectStore, createIngestion, type Ingestion } from '../pipeline/ingest/pipeline-factory';
import { ingestMetricHelp } from '../pipeline/ingest/metrics';
import { checkKafkaConnection, createKafka } from '../pipeline/kafka/client';
import { writeConcernOf } from '../pipeline/store/writer';
import { AuditLog } from './audit';
import { controllerId } from '../cluster/config';
import { auditRoutes } from './audit-routes';
import { ingestRoutes } from '../pipeline/http-route';
import type { SampleObserver } from '../pipeline/sample';
import { ProductMetrics } from './metrics';
import { buildController, type ReadinessCheck, type RoutePlugin } from './server';

/**
 * What a component adds to the running product: observers on the sample stream (the interception
 * hook), controller routes, readiness checks, and what to release on shutdown.
 */
export interface AppModule {
  name: string;
  observers?: SampleObserver[];
  routes?: RoutePlugin[];
  readiness?: Record<string, ReadinessCheck>;
  /** Called once every module exists, before traffic: the place to connect to other modules and to ingestion. */
  started?: (modules: readonly AppModule[], ingestion: Ingestion) => void;
  close?: () => Promise<void>;
}

/** Everything a module may need from the running product to set itself up. */
export interface AppServices {
  config: MeteringConfig;
  log: Logger;
  mongo: MongoClient;
  db: Db;
  kafka?: Kafka;
  metrics: ProductMetrics;
}

export type ModuleFactory = (svc: AppServices) => Promise<AppModule> | AppModule;

export interface Application {
  app: FastifyInstance;
  /** Base URL once listening (undefined with listen: false). */
  url?: string;
  ingestion: Ingestion;
  /** Bound ports of the Ceilometer udp:// and tcp:// listeners (when enabled). */
  listeners: { udpPort?: number; tcpPort?: number };
  services: AppServices;
  modules: AppModule[];
  close(): Promise<void>;
}

export interface StartOptions {
  config: MeteringConfig;
  log: Logger;
  /** Component modules (estimator, profiler, scaler, jobs…), set up in order. */
  modules?: ModuleFactory[];
  /** Bind the HTTP port (default true). Tests use app.inject without listening. */
  listen?: boolean;
  /** Run the Kafka consumer (default: config.kafka.enabled). */
  kafka?: boolean;
  /** Run the RabbitMQ notification consumer (default: config.amqp.enabled). */
  amqp?: boolean;
}

/**
 * Start the product: connect the store, wire ingestion (HTTP route + optional Kafka consumer) with
 * every module's observers on the interception hook, mount every module's routes on the controller.
 */
export async function startApplication(opts: StartOptions): Promise<Application> {
  const { config, log } = opts;
  const metrics = new ProductMetrics();
  const { client: mongo, db } = await connectStore(config.store);
  const useKafka = opts.kafka ?? config.kafka.enabled;
  const kafka = useKafka ? createKafka(config.kafka, log) : undefined;
  const services: AppServices = { config, log, mongo, db, kafka, metrics };
  const audit = new AuditLog(db, writeConcernOf(config.store), undefined, controllerId(config.cluster));

  const modules: AppModule[] = [];
  let ingestion: Ingestion | undefined;
  let kafkaAdmin: Admin | undefined;
  let app: FastifyInstance | undefined;
  try {
    // TLS and SASL problems surface here, once, as a sentence naming the setting (kafka.ssl / kafka.sasl)
    if (kafka) await checkKafkaConnection(kafka, config.kafka);
    await audit.ensureIndexes();
    for (const factory of opts.modules ?? []) modules.push(await factory(services));
    // Observers are registered before the consumer starts, so none misses a sample.
    ingestion = await createIngestion(
      { store: config.store, ingest: config.ingest, kafka: config.kafka, amqp: config.amqp },
      { db, kafka, kafkaEnabled: useKafka, log, startConsumer: false, amqp: opts.amqp ?? config.amqp.enabled },
    );
    for (const m of modules) for (const o of m.observers ?? []) ingestion.hub.register(o);
    metrics.registerSnapshot(ingestMetricHelp, () => ingestion!.ingestor.metrics.snapshot());
    for (const l of [ingestion.udp, ingestion.tcp]) if (l) metrics.registerSnapshot(`Ceilometer ${l === ingestion.udp ? 'udp' : 'tcp'}:// listener counters`, () => l.intake.snapshot());
    if (ingestion.amqpConsumer) {
      const st = ingestion.amqpConsumer.stats;
      metrics.registerSnapshot('RabbitMQ notification consumer', () => ({
        metering_ingest_amqp_messages_total: st.messages,
        metering_ingest_amqp_messages_redelivered_total: st.redelivered,
        metering_ingest_amqp_messages_acked_total: st.acked,
        metering_ingest_amqp_reconnects_total: st.reconnects,
      }));
    }
    if (ingestion.durableLog) {
      const dl = ingestion.durableLog;
      metrics.registerSnapshot('durable ingest log (Kafka) appends', () => ({ metering_ingest_log_appended_total: dl.appended, metering_ingest_log_append_failures_total: dl.failures }));
    }

    const readiness: Record<string, ReadinessCheck> = {
      store: async () => {
        await db.command({ ping: 1 });
      },
    };
    // not ready whenever ingestion refuses work (store unavailable, shutting down)
    readiness.ingestion = async () => {
      const why = ingestion!.ingestor.refusing();
      if (why) throw new Error(why);
    };
    if (kafka) {
      // one admin connection for every probe (orchestrators probe every few seconds); dropped after a
      // failure so the next probe connects afresh
      readiness.kafka = async () => {
        kafkaAdmin ??= kafka.admin();
        try {
          await kafkaAdmin.connect();
          await kafkaAdmin.describeCluster();
        } catch (err) {
          const stale = kafkaAdmin;
          kafkaAdmin = undefined;
          await stale.disconnect().catch(() => undefined);
          throw err;
        }
      };
    }
    const amqpConsumer = ingestion.amqpConsumer;
    if (amqpConsumer) {
      readiness.amqp = async () => {
        if (!amqpConsumer.connected) throw new Error('not connected to RabbitMQ (reconnecting)');
      };
    }
    for (const m of modules) Object.assign(readiness, m.readiness ?? {});
    app = await buildController({
      config,
      log,
      metrics,
      readiness,
      audit,
      routes: [ingestRoutes(ingestion.ingestor, config.ingest, ingestion.durableLog), auditRoutes(audit), ...modules.flatMap((m) => m.routes ?? [])],
    });
    for (const m of modules) m.started?.(modules, ingestion);
    const listeners = await ingestion.start();
    let url: string | undefined;
    if (opts.listen !== false) url = await app.listen({ host: config.controller.host, port: config.controller.port });
    const started = { app, ingestion };
    return {
      ...started,
      url,
      listeners,
      services,
      modules,
      async close() {
        // together: in-flight HTTP requests wait on ingestion, which the grace period bounds
        await Promise.all([started.app.close(), started.ingestion.close()]);
        for (const m of [...modules].reverse()) await m.close?.();
        await kafkaAdmin?.disconnect().catch(() => undefined);
        await mongo.close();
      },
    };
  } catch (err) {
    await app?.close().catch(() => {});
    await ingestion?.close().catch(() => {});
    // modules set up before the failure hold timers and connections: release them, or the process never exits
    for (const m of [...modules].reverse()) await m.close?.().catch(() => {});
    await mongo.close().catch(() => {});
    throw err;
  }
}
