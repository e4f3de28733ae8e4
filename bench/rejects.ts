import pino from 'pino';
import { startApplication } from '../controller/app';
import { meteringConfig } from '../app/config';
import { ensureServices } from '../services/manager';

/**
 * Cost of hostile bodies on the HTTP route (issue 10, finding 4): a body of `{}` items, every one
 * rejected, sent through the real controller (app.inject) to a real store. Measures CPU time of the
 * process per rejected item (process.cpuUsage, user + system), the answer's size and the dead-letter
 * documents written; and the cost of a body over ingest.maxItemsPerBody (refused whole with 413).
 */

export interface RejectsBenchResult {
  items: number;
  status: number;
  cpu_ms: number;
  cpu_us_per_rejected_item: number;
  response_bytes: number;
  dead_letter_documents: number;
  oversize: { items: number; status: number; cpu_ms: number; response_bytes: number };
  config: { maxItemsPerBody: number; maxRejectsListed: number; maxDeadLettersPerSubmission: number };
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

export async function runRejectsBench(o: { items?: number; verbose?: boolean } = {}): Promise<RejectsBenchResult> {
  const info = await ensureServices({ mongo: true }, { startedBy: 'bench' });
  const token = 'bench-rejects-token-0123456789';
  const database = `bench_rejects_${process.pid}_${Date.now().toString(36)}`;
  const config = meteringConfig.parse({
    controller: { auth: { tokens: [{ name: 'bench', token, roles: ['ingest'] }] } },
    store: { uri: info.mongodbUri!, database, writeConcern: info.mongoTier === 'real' ? 'majority' : 1 },
  });
  const items = o.items ?? config.ingest.maxItemsPerBody;
  const app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false });
  const post = (payload: string) => app.app.inject({ method: 'POST', url: '/v1/samples', payload, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
  try {
    // warm up (JIT, connections), then measure
    await post(JSON.stringify(Array.from({ length: 100 }, () => ({}))));
    const before = await app.services.db.collection('dead_letter').countDocuments();
    const body = JSON.stringify(Array.from({ length: items }, () => ({})));
    const c0 = process.cpuUsage();
    const res = await post(body);
    const cpu = cpuMs(process.cpuUsage(c0));
    const letters = (await app.services.db.collection('dead_letter').countDocuments()) - before;
    const over = JSON.stringify(Array.from({ length: 100_000 }, () => ({})));
    const c1 = process.cpuUsage();
    const big = await post(over);
    const cpuBig = cpuMs(process.cpuUsage(c1));
    const r: RejectsBenchResult = {
      items, status: res.statusCode, cpu_ms: round(cpu), cpu_us_per_rejected_item: round((cpu * 1000) / items), response_bytes: res.body.length, dead_letter_documents: letters,
      oversize: { items: 100_000, status: big.statusCode, cpu_ms: round(cpuBig), response_bytes: big.body.length },
      config: { maxItemsPerBody: config.ingest.maxItemsPerBody, maxRejectsListed: config.ingest.maxRejectsListed, maxDeadLettersPerSubmission: config.ingest.maxDeadLettersPerSubmission },
    };
    return r;
  } finally {
    await app.services.db.dropDatabase().catch(() => undefined);
    await app.close();
  }
}

export function formatRejectsTable(r: RejectsBenchResult): string {
  return [
    `rejects: body of ${r.items.toLocaleString('en-US')} items, all rejected: HTTP ${r.status}, ${r.cpu_ms} ms CPU (${r.cpu_us_per_rejected_item} µs per rejected item), answer ${r.response_bytes.toLocaleString('en-US')} bytes, ${r.dead_letter_documents} dead-letter documents`,
    `         body of ${r.oversize.items.toLocaleString('en-US')} items (over ingest.maxItemsPerBody ${r.config.maxItemsPerBody}): HTTP ${r.oversize.status}, ${r.oversize.cpu_ms} ms CPU, answer ${r.oversize.response_bytes} bytes`,
    '',
  ].join('\n');
}
