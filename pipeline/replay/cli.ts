import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { CliError, printJson } from '../../cli/registry';
import { CEILOMETER_DEFAULT_SECRET, HTTP_FORMS, KAFKA_FORMS, kafkaTopicFor, type HttpForm, type KafkaForm } from './encode';
import { HttpSink } from './http-sink';
import { KafkaSink } from './kafka-sink';
import { parseSpeedup } from './pacer';
import { replayTraces, type ReplaySummary } from './replay';
import { ReplayError, type ReplaySink } from './sink';
import { countRows, parseInstant, traceFiles, TraceSourceError, type TraceSlice } from './source';
import { parseTarget, TargetError } from './target';
import { TraceFormatError } from '../../profiler/bitbrains';

interface ReplayCliOptions {
  to: string;
  form?: string;
  secret?: string;
  token?: string;
  batch: string;
  concurrency: string;
  speedup: string;
  limitRows?: string;
  from?: string;
  until?: string;
  vms?: string;
  json?: boolean;
  progress: boolean;
}

const positiveInt = (text: string, option: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${option}: expected a positive integer, got ${JSON.stringify(text)}`, 2);
  return n;
};

/** `metering replay-traces DIR|FILE… --to http://…|kafka://…` */
export function registerReplayCommands(program: Command): void {
  program
    .command('replay-traces')
    .description('replay Bitbrains VM traces as Ceilometer samples (cpu, memory, disk, network per VM) to the HTTP route or to Kafka, paced by the trace clock')
    .argument('<paths...>', 'trace files, or directories of *.csv traces (e.g. ../shared/data/traces/bitbrains-rnd)')
    .requiredOption('--to <url>', 'http://user:TOKEN@host:port/v1/samples (http:// publisher) or kafka://host:port?topic=ceilometer (kafka:// publisher)')
    .option('--form <form>', 'wire form: HTTP as_dict (default) | counter (signed counter_* items); Kafka counter (default) | notifier (oslo envelopes on <topic>.sample)')
    .option('--secret <secret>', "telemetry secret that signs counter_* messages (default $METERING_TELEMETRY_SECRET, else Ceilometer's default)")
    .option('--token <token>', 'ingest bearer token for HTTP (instead of credentials in the URL)')
    .option('--batch <n>', 'samples per HTTP body / Kafka produce call', '500')
    .option('--concurrency <n>', 'HTTP requests in flight at once', '1')
    .option('--speedup <f>', 'trace time runs F times faster than the wall clock; 0 or max = as fast as possible', 'max')
    .option('--limit-rows <n>', 'at most N rows of each trace file')
    .option('--from <time>', 'first trace instant to send (epoch seconds or ISO-8601, UTC)')
    .option('--until <time>', 'stop each trace at this instant (exclusive)')
    .option('--vms <n>', 'only the first N trace files (VMs)')
    .option('--json', 'print the summary as one JSON object')
    .option('--no-progress', 'no progress bar on stderr')
    .action(async (paths: string[], opts: ReplayCliOptions) => {
      const summary = await runReplayCli(paths, opts);
      if (opts.json) printJson(summary);
      else {
        const s = summary;
        process.stdout.write(
          `replayed ${s.rows} rows of ${s.vms.length} VMs to ${s.target}: sent ${s.sent} samples in ${s.seconds} s (${s.samples_per_second}/s)` +
            (s.accepted === null ? `, ${s.kafka_messages} Kafka messages on ${s.topic}` : `; accepted ${s.accepted}, stored ${s.stored}, duplicates ${s.duplicates}, rejected ${s.rejected}`) +
            `, retries ${s.retries}\n`,
        );
        for (const r of s.reject_reasons ?? []) process.stdout.write(`  rejected: ${r}\n`);
      }
    });
}

type ReplayCliSummary = ReplaySummary & {
  target: string;
  speedup: number | 'max';
  statuses?: Record<string, number>;
  kafka_messages?: number;
  topic?: string;
  reject_reasons?: string[];
};

async function runReplayCli(paths: string[], opts: ReplayCliOptions): Promise<ReplayCliSummary> {
  let sink: ReplaySink;
  const secret = opts.secret ?? (process.env.METERING_TELEMETRY_SECRET || CEILOMETER_DEFAULT_SECRET);
  let bar: SingleBar | undefined;
  try {
    const target = parseTarget(opts.to, opts.token);
    const slice: TraceSlice = {
      ...(opts.limitRows !== undefined ? { limitRows: positiveInt(opts.limitRows, '--limit-rows') } : {}),
      ...(opts.from !== undefined ? { fromS: parseInstant(opts.from, '--from') } : {}),
      ...(opts.until !== undefined ? { untilS: parseInstant(opts.until, '--until') } : {}),
      ...(opts.vms !== undefined ? { vms: positiveInt(opts.vms, '--vms') } : {}),
    };
    const files = traceFiles(paths, slice.vms);
    const speedup = parseSpeedup(opts.speedup);
    const batch = positiveInt(opts.batch, '--batch');
    const concurrency = positiveInt(opts.concurrency, '--concurrency');
    let topic: string | undefined;
    if (target.kind === 'http') {
      const form = (opts.form ?? 'as_dict') as HttpForm;
      if (!HTTP_FORMS.includes(form)) throw new CliError(`--form: for http:// expected one of ${HTTP_FORMS.join(', ')}, got ${JSON.stringify(opts.form)}`, 2);
      sink = new HttpSink({
        url: target.url,
        authorization: target.authorization,
        form,
        secret,
        concurrency,
        onRetry: (status, waitS) => {
          if (!bar && !opts.json) process.stderr.write(`metering: ${status === 0 ? 'connection failed' : `HTTP ${status}`}: resending in ${waitS.toFixed(1)} s\n`);
        },
      });
    } else {
      const form = (opts.form ?? 'counter') as KafkaForm;
      if (!KAFKA_FORMS.includes(form)) throw new CliError(`--form: for kafka:// expected one of ${KAFKA_FORMS.join(', ')}, got ${JSON.stringify(opts.form)}`, 2);
      topic = kafkaTopicFor(target.topic, form);
      sink = await KafkaSink.connect({ brokers: target.brokers, topic: target.topic, form, secret });
    }
    if (opts.progress && process.stderr.isTTY) {
      bar = new SingleBar({
        format: 'replay [{bar}] {percentage}% | rows {value}/{total} | {sent} samples | {rate} samples/s | trace {trace}',
        stream: process.stderr,
        hideCursor: true,
      });
      bar.start(countRows(files, slice), 0, { sent: 0, rate: 0, trace: '-' });
    }
    const t0 = performance.now();
    const summary = await replayTraces({
      files,
      slice,
      sink,
      batch,
      speedup,
      onProgress: ({ rows, sent, traceS }) => {
        const secs = (performance.now() - t0) / 1000;
        bar?.update(rows, { sent, rate: secs > 0 ? Math.round(sent / secs) : 0, trace: new Date(traceS * 1000).toISOString().slice(0, 16) });
      },
    });
    bar?.stop();
    const extra =
      sink instanceof HttpSink
        ? { statuses: sink.statuses, ...(sink.rejectReasons.length ? { reject_reasons: sink.rejectReasons } : {}) }
        : { kafka_messages: (sink as KafkaSink).messages, topic };
    const out: ReplayCliSummary = { target: target.display, speedup: speedup === 0 ? 'max' : speedup, ...summary, ...extra };
    return out;
  } catch (err) {
    bar?.stop();
    if (err instanceof TargetError || err instanceof TraceSourceError || err instanceof RangeError) throw new CliError(err.message, 2);
    if (err instanceof TraceFormatError || err instanceof ReplayError) throw new CliError(err.message, 1);
    if (err instanceof Error && /ECONNREFUSED|KafkaJSConnectionError|KafkaJSNumberOfRetriesExceeded/.test(`${err.name} ${err.message}`)) {
      throw new CliError(`${opts.to}: ${err.message}`, 1);
    }
    throw err;
  }
}
