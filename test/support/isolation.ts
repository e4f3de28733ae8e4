import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Names that keep one test file's data apart from every other file running in parallel. */
export interface Isolation {
  /** `<file>_<random>`: unique per test file and per run. */
  id: string;
  /** A MongoDB database name for this file (≤ 63 bytes, no `.` `/` `$` or spaces). */
  dbName(label?: string): string;
  /** A Kafka topic name for this file. */
  topic(label?: string): string;
  /** A Kafka consumer group id for this file. */
  groupId(label?: string): string;
  /** A BullMQ queue prefix for this file (BullMQ keys are `<prefix>:<queue>:…`). */
  queuePrefix(label?: string): string;
}

const slug = (s: string) => s.replace(/\.test\.[cm]?[jt]s$/, '').replace(/\.[cm]?[jt]s$/, '').replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '');

/**
 * Per-file unique names: `isolation(import.meta.url)` at the top of a test file. The random part
 * changes every run, so leftovers of an earlier run never collide with this one.
 */
export function isolation(fileUrl: string): Isolation {
  const file = fileUrl.startsWith('file:') ? fileURLToPath(fileUrl) : fileUrl;
  const base = slug(path.basename(file)).slice(0, 24) || 'test';
  const id = `${base}_${randomBytes(4).toString('hex')}`;
  const join = (prefix: string, label?: string) => [prefix, id, label ? slug(label) : ''].filter(Boolean).join('_');
  return {
    id,
    dbName: (label) => join('t', label).slice(0, 63),
    topic: (label) => join('t', label).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 249),
    groupId: (label) => join('g', label),
    queuePrefix: (label) => join('bq', label),
  };
}
