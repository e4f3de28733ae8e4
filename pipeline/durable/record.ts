import type { IHeaders } from 'kafkajs';
import { parseHttpBody, parseKafkaValue, type NormalizeOptions, type NormalizeResult } from '../ceilometer/normalize';
import { FORM_HEADER, HTTP_BODY_FORM, PROJECT_HEADER, TRANSPORT_HEADER } from './log';

const header = (headers: IHeaders | undefined, name: string): string | undefined => {
  const v = headers?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : one.toString();
};

/**
 * Parse one Kafka record: an HTTP publisher body appended by the HTTP route in `log` acceptance (header
 * metering-form: http-body; a token's project scope in metering-project), else a Ceilometer Kafka value.
 * Parsing is deterministic, so the route's answer to the sender and what the consumer stores agree.
 */
export function parseRecord(value: Buffer, headers: IHeaders | undefined, opts: NormalizeOptions): NormalizeResult {
  if (header(headers, FORM_HEADER) !== HTTP_BODY_FORM) return parseKafkaValue(value, opts);
  const parsed = parseHttpBody(value, { ...opts, maxBodyBytes: Math.max(value.length, opts.maxBodyBytes ?? 0) });
  const project = header(headers, PROJECT_HEADER);
  return project === undefined ? parsed : scopeToProject(parsed, project);
}

/** Samples of another project than `project` become rejects (the route refused them to the sender too). */
export function scopeToProject(parsed: NormalizeResult, project: string): NormalizeResult {
  const out: NormalizeResult = { samples: [], rejects: [...parsed.rejects] };
  parsed.samples.forEach((s, i) => {
    if (s.project_id === project) out.samples.push(s);
    else out.rejects.push({ index: i, reason: `project_id: ${JSON.stringify(s.project_id)} is outside this token's project scope (${project})`, payload: JSON.stringify(s), message_id: s.message_id });
  });
  return out;
}

/** The transport a record's samples arrived by, as the appender wrote it (undefined: a Ceilometer Kafka record). */
export function recordTransport(headers: IHeaders | undefined): 'http' | 'udp' | 'tcp' | undefined {
  const t = header(headers, TRANSPORT_HEADER);
  return t === 'http' || t === 'udp' || t === 'tcp' ? t : undefined;
}
