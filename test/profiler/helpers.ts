import { readFileSync } from 'node:fs';
import type { Producer } from 'kafkajs';
import { encodeSamples } from '../../pipeline/kafka/producer';
import type { Sample } from '../../pipeline/sample';
import { TraceSampler } from '../../profiler/trace-samples';
import { sharedPath } from '../support/paths';
import { parseBitbrains, type BitbrainsRow } from '../../profiler/bitbrains';

export const trace = (vm: string): string => sharedPath('data', 'traces', 'bitbrains-rnd', `${vm}.csv`);

export function rowsOf(vm: string): BitbrainsRow[] {
  return parseBitbrains(readFileSync(trace(vm), 'utf8'), `${vm}.csv`);
}

/**
 * The rows a running VM would have been polled for, computed independently of the profiler:
 * rows with zero cores/capacity dropped, first row per timestamp kept.
 */
export function polledRows(rows: BitbrainsRow[]): BitbrainsRow[] {
  const out: BitbrainsRow[] = [];
  let last = -Infinity;
  for (const r of rows) {
    if (r.cpu_cores === 0 || r.cpu_capacity_mhz === 0 || r.memory_capacity_kb === 0) continue;
    if (r.timestamp_s <= last) continue;
    last = r.timestamp_s;
    out.push(r);
  }
  return out;
}


/** Interleaved samples of the first `rows` polls of real Bitbrains VMs (9 per VM and poll), as many agents would send them. */
export function interleavedTraffic(vms: readonly string[], rows: number): Sample[] {
  const per = vms.map((n) => {
    const s = new TraceSampler(n);
    return rowsOf(n).slice(0, rows).map((r) => s.samples(r));
  });
  const out: Sample[] = [];
  for (let i = 0; i < rows; i++) for (const vm of per) out.push(...(vm[i] ?? []));
  return out;
}

/** One Kafka message per sample, keyed by resource_id (one resource's stream stays on one partition). */
export async function produceKeyed(producer: Producer, topic: string, samples: Sample[], secret: string): Promise<void> {
  const values = encodeSamples(samples, 'counter', secret);
  for (let i = 0; i < values.length; i += 500) {
    await producer.send({ topic, acks: -1, messages: values.slice(i, i + 500).map((value, j) => ({ key: samples[i + j]!.resource_id, value })) });
  }
}
