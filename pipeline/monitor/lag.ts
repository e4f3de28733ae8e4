import type { Admin, Kafka } from 'kafkajs';

/** How far the consumer group is behind, per partition. */
export interface PartitionLag {
  topic: string;
  partition: number;
  /** Next offset the group will read (its committed offset), or null when it never committed. */
  committed: string | null;
  /** Log end offset (the next offset a producer writes). */
  end: string;
  /** Messages written and not yet committed by the group. */
  lag: number;
}

/**
 * Lag from a topic's offsets and the group's committed ones (pure). A partition the group never
 * committed on is behind by everything the broker still holds (end − low).
 */
export function lagOf(
  topic: string,
  offsets: ReadonlyArray<{ partition: number; high: string; low: string }>,
  committed: ReadonlyArray<{ partition: number; offset: string }>,
): PartitionLag[] {
  const byPartition = new Map(committed.map((c) => [c.partition, c.offset]));
  return offsets
    .map((o) => {
      const c = byPartition.get(o.partition);
      const has = c !== undefined && c !== '-1' && c !== '';
      const from = has ? BigInt(c!) : BigInt(o.low);
      const lag = BigInt(o.high) - from;
      return { topic, partition: o.partition, committed: has ? c! : null, end: o.high, lag: Number(lag > 0n ? lag : 0n) };
    })
    .sort((a, b) => a.partition - b.partition);
}

const READ_TIMEOUT_MS = 3000;

/**
 * Reads the ingestion consumer group's lag from the broker, at most every `cacheSeconds` (a scrape
 * and the console polling must not hammer the broker). A broker that does not answer gives the
 * error instead of numbers, never an exception.
 */
export class ConsumerLagReader {
  private admin: Admin | undefined;
  private cached: { at: number; value: LagReading } | undefined;
  private running: Promise<LagReading> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly groupId: string,
    private readonly topics: readonly string[],
    private readonly cacheSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  async read(): Promise<LagReading> {
    if (this.cached && this.now() - this.cached.at < this.cacheSeconds * 1000) return this.cached.value;
    this.running ??= this.fetch().finally(() => (this.running = undefined));
    return this.running;
  }

  private async fetch(): Promise<LagReading> {
    const at = this.now();
    let value: LagReading;
    let timer: NodeJS.Timeout | undefined;
    try {
      // a broker that does not answer must not hold up a /metrics scrape or the console
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the broker did not answer within ${READ_TIMEOUT_MS} ms`)), READ_TIMEOUT_MS);
      });
      const reading = this.fetchOffsets(at);
      reading.catch(() => undefined); // it may fail after the timeout won the race
      value = await Promise.race([reading, timeout]);
    } catch (err) {
      const stale = this.admin;
      this.admin = undefined;
      void stale?.disconnect().catch(() => undefined);
      value = { group: this.groupId, at: new Date(at).toISOString(), partitions: [], total: null, error: (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
    this.cached = { at, value };
    return value;
  }

  private async fetchOffsets(at: number): Promise<LagReading> {
    this.admin ??= this.kafka.admin();
    const admin = this.admin;
    await admin.connect();
    const committed = await admin.fetchOffsets({ groupId: this.groupId, topics: [...this.topics] });
    const partitions: PartitionLag[] = [];
    for (const topic of this.topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
      partitions.push(...lagOf(topic, offsets, mine));
    }
    return { group: this.groupId, at: new Date(at).toISOString(), partitions, total: partitions.reduce((s, p) => s + p.lag, 0) };
  }

  async close(): Promise<void> {
    await this.admin?.disconnect().catch(() => undefined);
    this.admin = undefined;
  }
}

export interface LagReading {
  group: string;
  at: string;
  partitions: PartitionLag[];
  /** Sum over partitions; null when the broker could not be read. */
  total: number | null;
  error?: string;
}
