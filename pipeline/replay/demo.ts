import path from 'node:path';
import type { DemoContext, DemoStep } from '../../cli/demo-context';
import { DEMO_VMS } from '../../profiler/demo';
import { HttpSink } from './http-sink';
import { KafkaSink } from './kafka-sink';
import { replayTraces, type ReplaySummary } from './replay';
import { sleep } from './sink';

/** Twelve hours of five-minute trace rows per VM. */
const ROWS = 144;

async function replay(ctx: DemoContext, vms: readonly string[], sink: HttpSink | KafkaSink): Promise<ReplaySummary> {
  const dir = path.join(ctx.shared!, 'data/traces/bitbrains-rnd');
  try {
    return await replayTraces({ files: vms.map((v) => path.join(dir, `${v}.csv`)), slice: { limitRows: ROWS }, sink, batch: 500 });
  } finally {
    await sink.close();
  }
}

/**
 * Ingestion chapter: real Bitbrains VM traces become signed Ceilometer samples and arrive the two
 * ways Ceilometer sends them: half the VMs through the http:// publisher's body (POST /v1/samples),
 * half as kafka:// publisher messages the consumer stores; then the HTTP half is sent again to show
 * that a redelivery stores nothing twice.
 */
export const replayDemoStep: DemoStep = {
  title: 'Ingestion: real VM traces replayed as Ceilometer samples over HTTP and Kafka',
  async run(ctx) {
    if (!ctx.shared) throw new Error('needs the Bitbrains traces in ../shared/data/traces (set METERING_SHARED_DIR)');
    const meter = ctx.app.services.db.collection('meter');
    const before = await meter.estimatedDocumentCount();
    const viaKafka = ctx.services.kafkaBrokers ? DEMO_VMS.slice(6) : [];
    const viaHttp = viaKafka.length ? DEMO_VMS.slice(0, 6) : DEMO_VMS;
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

    const again = await replay(ctx, viaHttp, http());
    ctx.say(`The same HTTP slice again (a redelivery): stored ${again.stored}, duplicates ${again.duplicates}: nothing stored twice`);
    const total = await meter.countDocuments();
    const resources = await ctx.app.services.db.collection('resource').countDocuments();
    ctx.say(`Store now holds ${total.toLocaleString('en-US')} samples in meter (${(total - before).toLocaleString('en-US')} from this replay) and ${resources} resources; dead letters: ${await ctx.app.services.db.collection('dead_letter').countDocuments()}`);
    const metrics = ctx.app.ingestion.ingestor.metrics.snapshot();
    ctx.say(`Ingestion counters: ${Object.entries(metrics).filter(([k]) => k.endsWith('_total')).map(([k, v]) => `${k.replace('metering_ingest_', '')}=${v}`).join(' ')}`);
    ctx.state.set('replay.vms', [...viaHttp, ...viaKafka]);
  },
};
