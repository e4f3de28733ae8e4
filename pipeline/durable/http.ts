import type { IHeaders } from 'kafkajs';
import type { NormalizeResult, ParsedSource } from '../ceilometer/normalize';
import { splitBodyByResource } from './keys';
import { FORM_HEADER, HTTP_BODY_FORM, PROJECT_HEADER, TRANSPORT_HEADER, type DurableLog } from './log';

/**
 * Acceptance `log` for an HTTP publisher body: the body goes whole into the ingest log (with the token's
 * project scope as a header) and the sender is answered once the log holds it. The consumer parses it
 * again with the same parser and scope, stores the samples and dead-letters the rejects, so the answer
 * listed here (valid count, per-item reasons) is what happens to the body, except the plausibility
 * screen: it runs when the log is drained (`accepted` here means taken into the log), and a sample it
 * refuses is dead-lettered then and counted in `metering_ingest_http_samples_refused_total`.
 */
export async function appendHttpBody(log: DurableLog, body: Buffer, parsed: NormalizeResult, project: string | undefined, read?: ParsedSource) {
  const headers: IHeaders = { [FORM_HEADER]: HTTP_BODY_FORM, [TRANSPORT_HEADER]: 'http' };
  if (project !== undefined) headers[PROJECT_HEADER] = project;
  // one record per resource, keyed by its resource_id: one resource's samples stay on one partition (the
  // items located in the route's own parse of the body when it hands it over, `read`)
  if (parsed.samples.length > 0 || parsed.rejects.length > 0) await log.append(splitBodyByResource(body, read).map((r) => ({ key: r.key, value: r.value, headers })));
  const rejects = parsed.rejects
    .map((r) => ({ index: r.index, reason: r.reason, ...(r.message_id ? { message_id: r.message_id } : {}) }))
    .sort((a, b) => a.index - b.index);
  return { accepted: parsed.samples.length, stored: 0, duplicates: 0, rejected: parsed.rejects.length, rejects, acceptance: 'log' as const };
}
