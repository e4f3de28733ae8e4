import type { Collection, Db } from 'mongodb';
import type { Logger } from '../lib/log';
import type { SampleObserver, StoredSample } from '../pipeline/sample';
import { SizeTracker } from './event-size';

/**
 * The size tracker shared by several controllers (`estimator.size_tracker_state: store`).
 *
 * Each controller sees only the samples of the Kafka partitions it owns, so its own last-three sizes
 * per meter would differ from its neighbours'. Here every controller keeps, per meter, the last three
 * sizes it observed (with their arrival time `recorded_at`) and every `size_tracker_flush_ms` pushes
 * them into one document per meter of `size_tracker`, which MongoDB keeps sorted by arrival time and
 * cut to the last three (`$push` with `$each`, `$sort`, `$slice`): the cluster-wide "last three stored
 * sizes" however the partitions are spread. It then re-reads every meter's document into `view` (the
 * SizeTracker the estimator's routes use), so every controller sizes meters the same, at most one
 * flush interval behind.
 *
 * An observation whose write failed is written again with the next flush (at most three per meter are
 * kept waiting); a write that failed after the server applied it can put that observation in twice.
 */

export interface SizeDoc {
  _id: string;
  last: Array<{ at: Date; bytes: number }>;
}

const pickLatest = (xs: Array<{ at: number; bytes: number }>, n: number) => (xs.length > n ? xs.slice(-n) : xs);

export class SharedSizeTracker implements SampleObserver {
  readonly name = 'estimator-size-tracker';
  /** The cluster-wide sizes (re-read at every flush). */
  readonly view: SizeTracker;
  private pending = new Map<string, Array<{ at: number; bytes: number }>>();
  private readonly coll: Collection<SizeDoc>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  failures = 0;

  constructor(db: Db, private readonly log?: Logger, readonly window = 3, collection = 'size_tracker') {
    this.view = new SizeTracker(window);
    this.coll = db.collection<SizeDoc>(collection);
  }

  onStored(samples: readonly StoredSample[]): void {
    for (const s of samples) {
      let w = this.pending.get(s.counter_name);
      if (!w) this.pending.set(s.counter_name, (w = []));
      w.push({ at: s.recorded_at.getTime(), bytes: s.bson_size });
      if (w.length > this.window) w.shift();
    }
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.flush().catch((err) => this.log?.warn({ err: (err as Error).message }, 'shared size tracker flush failed'));
    }, intervalMs);
    this.timer.unref();
  }

  /** Write what this controller saw since the last flush, then re-read the cluster-wide sizes. */
  flush(): Promise<void> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    if (batch.size > 0) {
      const ops = [...batch].map(([meter, list]) => ({
        updateOne: {
          filter: { _id: meter },
          update: { $push: { last: { $each: list.map((o) => ({ at: new Date(o.at), bytes: o.bytes })), $sort: { at: 1 as const }, $slice: -this.window } } },
          upsert: true,
        },
      }));
      try {
        await this.coll.bulkWrite(ops, { ordered: false });
      } catch (err) {
        this.failures++;
        // keep them for the next flush, newer observations first in line to stay
        for (const [meter, list] of batch) this.pending.set(meter, pickLatest([...list, ...(this.pending.get(meter) ?? [])].sort((a, b) => a.at - b.at), this.window));
        throw err;
      }
    }
    const docs = await this.coll.find({}).toArray();
    this.view.replaceAll(new Map(docs.map((d) => [d._id, [...d.last].sort((a, b) => a.at.getTime() - b.at.getTime()).map((o) => o.bytes)])));
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush().catch((err) => this.log?.warn({ err: (err as Error).message }, 'shared size tracker: last flush failed'));
  }
}
