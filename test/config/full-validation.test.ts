import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../app/config';
import { YamlValidationError } from '../../config/yaml-source';
import { REPO } from '../support/paths';

/** Issue 10, finding 6: cron expressions, URLs and the files a schedule needs are checked by `config check` with file:line, and `serve` refuses them before starting anything. */

const dir = mkdtempSync(path.join(tmpdir(), 'metering-config-full-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const issuesOf = (text: string) => {
  try {
    parseConfig(text, 'metering.yaml', {});
  } catch (err) {
    if (err instanceof YamlValidationError) return err.message.split('\n');
    throw err;
  }
  return [];
};
const cli = (...args: string[]) =>
  spawnSync('node', [path.join(REPO, 'bin/metering.mjs'), ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, MONGODB_URI: '', KAFKA_BROKERS: '', REDIS_URL: '' } });

describe('configuration validated fully', () => {
  it('a cron expression BullMQ would refuse is an error at its line', () => {
    expect(issuesOf('rating:\n  invoiceSchedule: "99 99 * * *"\n')).toEqual([
      'metering.yaml:2: rating.invoiceSchedule: not a valid cron expression ("minute hour day-of-month month day-of-week", e.g. "0 3 * * *"): Constraint error, got value 99 expected range 0-59',
    ]);
    const plan = path.join(REPO, 'billing/rating/examples/plan.yaml');
    expect(issuesOf(`rating:\n  plan: ${plan}\n  invoiceSchedule: "0 3 * * *"\n`)).toEqual([]);
    expect(issuesOf('rating:\n  invoiceSchedule: ""\n')).toEqual([]);
  });

  it('a schedule whose price plan file does not exist is an error at the plan line', () => {
    expect(issuesOf('rating:\n  plan: /nonexistent/plans.yaml\n  invoiceSchedule: "0 3 * * *"\n')).toEqual([
      `metering.yaml:2: rating.plan: file not found: /nonexistent/plans.yaml (relative paths are resolved from ${process.cwd()}); rating.invoiceSchedule runs the billing cycle with this plan`,
    ]);
    // without a schedule the plan is only needed when a rating job runs (it then fails with the located plan error)
    expect(issuesOf('rating:\n  plan: /nonexistent/plans.yaml\n')).toEqual([]);
  });

  it('connection URLs and broker addresses are checked', () => {
    const issues = issuesOf('store:\n  uri: "127.0.0.1:27017"\nredis:\n  url: "localhost:6379"\nkafka:\n  brokers: ["http://broker:9092", "broker:9092"]\n');
    expect(issues).toEqual([
      'metering.yaml:2: store.uri: expected a mongodb:// or mongodb+srv:// connection string',
      'metering.yaml:4: redis.url: expected a redis://host:port[/db] (or rediss://) URL',
      'metering.yaml:6: kafka.brokers[0]: expected host:port',
    ]);
    expect(issuesOf('store:\n  uri: "mongodb+srv://user:pw@cluster.example.net/db"\nredis:\n  url: "rediss://:pw@cache:6380/2"\nkafka:\n  brokers: ["[::1]:9092", "kafka-0.kafka:9092"]\n')).toEqual([]);
  });

  it('`config check` exits 1 with file:line; `serve` refuses the same file with the located reason before starting anything', () => {
    const bad = file('bad-cron.yaml', 'rating:\n  invoiceSchedule: "99 99 * * *"\n');
    const check = cli('config', 'check', bad);
    expect(check.status).toBe(1);
    expect(check.stderr).toContain('bad-cron.yaml:2: rating.invoiceSchedule: not a valid cron expression');
    const serve = cli('--config', bad, 'serve', '--port', '0');
    expect(serve.status).not.toBe(0);
    expect(serve.stderr).toContain('bad-cron.yaml:2: rating.invoiceSchedule: not a valid cron expression');
  });
});
