import path from 'node:path';
import type { DemoContext, DemoStep } from '../../cli/demo-context';
import { DEMO_VMS } from '../../profiler/demo';
import { HttpSink } from './http-sink';
import { KafkaSink } from './kafka-sink';
import { AmqpSink } from './amqp-sink';
import { replayTraces, type ReplaySummary } from './replay';
import { sleep } from './sink';

/** Twelve hours of five-minute trace rows per VM. */
const ROWS = 144;

async function replay(ctx: DemoContext, vms: readonly string[], sink: HttpSink | KafkaSink | AmqpSink): Promise<ReplaySummary> {
  const dir = path.join(ctx.shared!, 'data/traces/bitbrains-rnd');
  try {
    return await replayTraces({ files: vms.map((v) => path.join(dir, `${v}.csv`)), slice: { limitRows: ROWS }, sink, batch: 500 });
  } finally {
    await sink.close();
  }
}

/**
 * Ingestion chapter: real Bitbrains VM traces become signed Ceilometer samples and arrive the ways
 * Ceilometer sends them: VMs through the http:// publisher's body (POST /v1/samples), as kafka://
 * publisher messages the consumer stores and, with RabbitMQ, as notifier:// notifications over
 * oslo.messaging's rabbit driver; then the HTTP slice is sent again to show that a redelivery stores
 * nothing twice.
 */
export const replayDemoStep: DemoStep = {
  title: 'Ingestion: real VM traces replayed as Ceilometer samples over HTTP, Kafka and RabbitMQ',
  async run(ctx) {
    if (!ctx.shared) throw new Error('needs the Bitbrains traces in ../shared/data/traces (set METERING_SHARED_DIR)');
    const meter = ctx.app.services.db.collection('meter');
    const before = await meter.estimatedDocumentCount();
    const viaAmqp = ctx.app.ingestion.amqpConsumer ? DEMO_VMS.slice(9) : [];
    const rest = DEMO_VMS.slice(0, DEMO_VMS.length - viaAmqp.length);
    const viaKafka = ctx.services.kafkaBrokers ? rest.slice(6) : [];
    const viaHttp = viaKafka.length ? rest.slice(0, 6) : rest;
    const http = () => new HttpSink({ url: `${ctx.url}/v1/samples`, authorization: `Bearer ${ctx.token}`, form: 'as_dict', secret: ctx.secret });

    const h = await replay(ctx, viaHttp, http());
    ctx.say(`HTTP (Ceilometer http:// publisher body, as_dict form): VMs ${viaHttp.join(', ')}: ${h.rows} trace rows → ${h.sent} samples in ${h.seconds.toFixed(1)} s (${Math.round(h.samples_per_second)} samples/s); stored ${h.stored}, duplicates ${h.duplicates}, rejected ${h.rejected}, retries ${h.retries}`);

    let kafkaSent = 0;
    if (viaKafka.length) {
      const topic = ctx.config.kafka.topics[0]!;
      const k = await replay(ctx, viaKafka, await KafkaSink.connect({ brokers: ctx.services.kafkaBrokers!, topic, form: 'counter', secret: ctx.secret }));
      kafkaSent = k.sent;
      const want = before + (h.stored ?? 0) + kafkaSent;
      const deadline = Date.now() + 60_000;
      let now = await meter.estimatedDocumentCount();
      while (now < want && Date.now() < deadline) {
        await sleep(250);
        now = await meter.estimatedDocumentCount();
      }
      const consumer = ctx.app.ingestion.consumer?.stats;
      ctx.say(`Kafka (kafka:// publisher, signed counter_* messages on ${topic}): VMs ${viaKafka.join(', ')}: ${k.sent} samples produced; the consumer stored ${now - before - (h.stored ?? 0)} of them (${consumer?.batches ?? 0} fetched batches, ${consumer?.commits ?? 0} offset commits after durable writes)`);
      if (now < want) throw new Error(`only ${now - before} of ${want - before} samples stored after 60 s`);
    }

    if (viaAmqp.length) {
      const topic = ctx.config.amqp.topics[0]!;
      const before2 = await meter.estimatedDocumentCount();
      const a = await replay(ctx, viaAmqp, await AmqpSink.connect({ url: ctx.config.amqp.url, exchange: ctx.config.amqp.exchange, topic, secret: ctx.secret }));
      const deadline = Date.now() + 60_000;
      let now = await meter.estimatedDocumentCount();
      while (now < before2 + a.sent && Date.now() < deadline) {
        await sleep(250);
        now = await meter.estimatedDocumentCount();
      }
      const st = ctx.app.ingestion.amqpConsumer!.stats;
      ctx.say(`RabbitMQ (notifier:// over oslo.messaging's rabbit driver: oslo notifications on exchange ${ctx.config.amqp.exchange}, queue ${topic}.sample): VMs ${viaAmqp.join(', ')}: ${a.sent} samples published; the consumer stored ${now - before2} of them (${st.acked} notifications acknowledged after durable writes)`);
      if (now < before2 + a.sent) throw new Error(`only ${now - before2} of ${a.sent} RabbitMQ samples stored after 60 s`);
    }

    const again = await replay(ctx, viaHttp, http());
    ctx.say(`The same HTTP slice again (a redelivery): stored ${again.stored}, duplicates ${again.duplicates}: nothing stored twice`);
    const total = await meter.countDocuments();
    const resources = await ctx.app.services.db.collection('resource').countDocuments();
    ctx.say(`Store now holds ${total.toLocaleString('en-US')} samples in meter (${(total - before).toLocaleString('en-US')} from this replay) and ${resources} resources; dead letters: ${await ctx.app.services.db.collection('dead_letter').countDocuments()}`);
    const metrics = ctx.app.ingestion.ingestor.metrics.snapshot();
    ctx.say(`Ingestion counters: ${Object.entries(metrics).filter(([k]) => k.endsWith('_total')).map(([k, v]) => `${k.replace('metering_ingest_', '')}=${v}`).join(' ')}`);
    ctx.state.set('replay.vms', [...viaHttp, ...viaKafka, ...viaAmqp]);
  },
};
