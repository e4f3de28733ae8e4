/**
 * Turn Ceilometer's wire forms into internal Samples, with a per-sample reject for everything
 * that cannot be ingested (valid neighbours in the same batch are still returned):
 *  - HTTP publisher body: a JSON list (or, with batch=False, one object) of `Sample.as_dict()`
 *    items — unsigned (the HTTP route is authenticated by the controller's bearer token). Items
 *    in the signed counter_* shape are accepted too and have their signature checked.
 *  - Kafka value: one signed counter_* meter message (the 2015.1–9.x kafka publisher), or an oslo
 *    notifier envelope {"oslo.version":"2.0","oslo.message":"<json>"} whose inner notification has
 *    event_type metering|telemetry.api (payload: [meter messages]) or telemetry.polling (payload:
 *    {samples: [...]}); the inner notification un-enveloped is accepted as well.
 * Reject.index is the item's position in the body/payload list, or -1 for the whole body/value.
 */
import { isUtf8 } from 'node:buffer';
import type { SignaturePolicy } from '../config';
import type { Sample } from '../sample';
import { JsonSyntaxError, parseStringRecord, parseTaggedJson, parseTaggedJsonStrict, type ParsedJson, type TaggedValue } from './json';
import { verifySignature } from './signature';
import { describeUtf8Problem, findInvalidUtf8 } from './utf8';
import { AS_DICT_FIELDS, METER_FIELDS, describeValue, isObject, validateItem } from './validate';
import { codeAt } from './strings';

export type { SignaturePolicy };

export interface NormalizeOptions {
  /** Ceilometer's `[publisher] telemetry_secret`. Empty/absent: signatures are not checked (Ceilometer's rule). */
  secret?: string;
  /** What to do with a counter_* message whose signature fails: drop it as a reject (default), keep it with `signature_invalid: true`, or skip checking. */
  signaturePolicy?: SignaturePolicy;
  /** Largest HTTP body accepted, in bytes (default 8 MiB). */
  maxBodyBytes?: number;
  /** Largest Kafka message value accepted, in bytes (default 1 MiB, Kafka's default message.max.bytes). */
  maxValueBytes?: number;
  /** Largest single sample item inside a body or payload list, in bytes of JSON (default 256 KiB). */
  maxSampleBytes?: number;
  /** Source given to samples that carry none (Ceilometer's sample_source default). */
  defaultSource?: string;
  /**
   * Ceilometer's `[publisher_notifier] metering_topic` values: a notification whose event_type is one of
   * them, or `<topic>.<meter>` (per_meter_topic), is a sample notification. Default [metering].
   */
  meteringTopics?: readonly string[];
  /**
   * Read JSON with the character-by-character reference reader only: no engine parse, no interned
   * metadata, so none of the hot path's shortcuts. For tests comparing the two; default false.
   */
  referenceReader?: boolean;
  /**
   * Hand the decoded text and its parse back in `NormalizeResult.source` (HTTP bodies), so a caller that
   * needs the items' original bytes (the acceptance log's split by resource) does not parse them again.
   */
  keepSource?: boolean;
}

export const DEFAULT_NORMALIZE_OPTIONS: Required<NormalizeOptions> = {
  secret: '',
  signaturePolicy: 'reject',
  maxBodyBytes: 8 * 1024 * 1024,
  maxValueBytes: 1024 * 1024,
  maxSampleBytes: 256 * 1024,
  defaultSource: 'openstack',
  meteringTopics: ['metering'],
  referenceReader: false,
  keepSource: false,
};

export interface Reject {
  /** Position in the body / payload list; -1 when the whole body or value is rejected. */
  index: number;
  /** One sentence (or several joined by "; ") naming the field and what is wrong with its value. */
  reason: string;
  /** The original bytes/text: the item's own JSON text, or the whole body/value for index -1. */
  payload: string | Buffer;
  message_id?: string;
}

export interface NormalizeResult {
  samples: Sample[];
  rejects: Reject[];
  /** With `keepSource`: the body's text (byte-order mark stripped) and its parse, item spans included. */
  source?: ParsedSource;
}

/** A body's decoded text and the parse of it (with the element spans of its list). */
export interface ParsedSource {
  text: string;
  parsed: ParsedJson;
}

/**
 * Each kept sample's position in its message's payload (what its dead letter names): the parsers keep
 * payload order and leave out only their rejects.
 */
export function payloadPositions(parsed: NormalizeResult): number[] {
  const out = new Array<number>(parsed.samples.length);
  if (parsed.rejects.length === 0) {
    for (let i = 0; i < out.length; i++) out[i] = i;
    return out;
  }
  const rejectedAt = new Set(parsed.rejects.map((r) => r.index));
  for (let i = 0, at = 0; i < out.length; i++, at++) {
    while (rejectedAt.has(at)) at++;
    out[i] = at;
  }
  return out;
}

type Shape = 'as_dict' | 'meter' | 'either';

/**
 * The options with their defaults, worked out once per options object: the route and the consumers hold
 * one for their lifetime and call the parser per body or message (a spread per call showed in profiles).
 * An options object is read once: a caller that changes it afterwards must pass a new one.
 */
const resolved = new WeakMap<NormalizeOptions, Required<NormalizeOptions>>();
function resolve(opts?: NormalizeOptions): Required<NormalizeOptions> {
  if (opts === undefined) return DEFAULT_NORMALIZE_OPTIONS;
  let o = resolved.get(opts);
  if (o === undefined) resolved.set(opts, (o = { ...DEFAULT_NORMALIZE_OPTIONS, ...opts }));
  return o;
}

/** Size check, UTF-8 check and JSON parse of a whole body/value; a whole-input reject on failure. */
function decodeJson(
  input: string | Buffer,
  limit: number,
  what: string,
  reference: boolean,
  envelope = false,
): { text: string; parsed: ParsedJson } | { reject: Reject } {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  // (no closures on the per-sample path: the TypeScript loader names every one it creates, at a cost)
  if (size > limit) return wholeInput(input, `${what}: ${size} bytes exceeds the limit of ${limit} bytes`);
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    // Invalid UTF-8 decodes to U+FFFD: only a text holding one needs the engine's check (it may have been
    // sent as such), and the byte-by-byte scan only to name the problem
    text = input.toString('utf8');
    if (text.includes('\uFFFD') && !isUtf8(input)) {
      const bad = findInvalidUtf8(input);
      if (bad) return wholeInput(input, `${what}: ${describeUtf8Problem(bad)}`);
    }
  }
  if (codeAt(text, 0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') return wholeInput(input, `${what}: empty (expected JSON)`);
  try {
    // an oslo envelope (one object of strings) needs no scan: the engine's parse is exact for it
    const record = envelope && !reference && text.startsWith('{"oslo.') ? parseStringRecord(text) : undefined;
    return { text, parsed: record ?? readJson(text, reference) };
  } catch (err) {
    if (err instanceof JsonSyntaxError) return wholeInput(input, `${what}: ${err.message}`);
    throw err;
  }
}

/** The ingestion parsers' JSON reader: the engine's parse with interned metadata (json.ts, interned.ts), or the reference reader. */
function readJson(text: string, reference: boolean): ParsedJson {
  return reference ? parseTaggedJsonStrict(text) : parseTaggedJson(text, INTERN);
}
const INTERN = { intern: true };

function wholeInput(input: string | Buffer, reason: string): { reject: Reject } {
  return { reject: { index: -1, reason, payload: input } };
}

function messageIdOf(item: unknown): string | undefined {
  if (!isObject(item)) return undefined;
  const id = item.message_id ?? item.id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

function rejectItem(out: NormalizeResult, item: TaggedValue, index: number, raw: string, reason: string): void {
  const r: Reject = { index, reason, payload: raw };
  const id = messageIdOf(item);
  if (id !== undefined) r.message_id = id;
  out.rejects.push(r);
}

/**
 * The text items are read from, with its span table; `ascii` when every character is ASCII (then an
 * item's UTF-8 size is its length, and its text is sliced only for a reject).
 */
interface ItemSource {
  text: string;
  parsed: ParsedJson;
  ascii: boolean;
}

/** Validate one item of a list (or a lone object), whose JSON is text[start, end), and push to samples or rejects. */
function takeItem(
  item: TaggedValue,
  index: number,
  text: string,
  start: number,
  end: number,
  ascii: boolean,
  shape: Shape,
  o: Required<NormalizeOptions>,
  out: NormalizeResult,
  plainNumbers = false,
): void {
  if (!isObject(item)) return rejectItem(out, item, index, text.slice(start, end), `sample: expected an object, got ${describeValue(item)}`);
  const size = ascii ? end - start : Buffer.byteLength(text.slice(start, end), 'utf8');
  if (size > o.maxSampleBytes) return rejectItem(out, item, index, text.slice(start, end), `sample: ${size} bytes of JSON exceeds the per-sample limit of ${o.maxSampleBytes} bytes`);

  const isMeter = Object.prototype.hasOwnProperty.call(item, 'counter_name');
  if (shape === 'meter' && !isMeter) {
    return rejectItem(
      out,
      item,
      index,
      text.slice(start, end),
      Object.prototype.hasOwnProperty.call(item, 'name')
        ? 'counter_name: missing (this looks like an unsigned Sample.as_dict() item, which is only accepted on the HTTP route)'
        : 'counter_name: missing (required)',
    );
  }
  if (isMeter) {
    let flagged = false;
    if (o.signaturePolicy !== 'off') {
      const check = verifySignature(item, o.secret);
      if (!check.valid) {
        if (o.signaturePolicy === 'reject') return rejectItem(out, item, index, text.slice(start, end), check.reason);
        flagged = true;
      }
    }
    const sig = typeof item.message_signature === 'string' ? item.message_signature : '';
    const v = validateItem(item, METER_FIELDS, sig, o.defaultSource, plainNumbers);
    if (!v.ok) return rejectItem(out, item, index, text.slice(start, end), v.reason);
    if (flagged) v.sample.signature_invalid = true;
    out.samples.push(v.sample);
    return;
  }
  const v = validateItem(item, AS_DICT_FIELDS, '', o.defaultSource, plainNumbers);
  if (!v.ok) return rejectItem(out, item, index, text.slice(start, end), v.reason);
  out.samples.push(v.sample);
}

function takeList(list: TaggedValue[], src: ItemSource, shape: Shape, o: Required<NormalizeOptions>, out: NormalizeResult): void {
  const plain = src.parsed.plainNumbers === true;
  const spans = src.parsed.itemSpans.get(list);
  for (let i = 0; i < list.length; i++) {
    const span = spans?.[i];
    if (span !== undefined) takeItem(list[i]!, i, src.text, span[0], span[1], src.ascii, shape, o, out, plain);
    else {
      const raw = JSON.stringify(list[i]);
      takeItem(list[i]!, i, raw, 0, raw.length, false, shape, o, out, plain);
    }
  }
}

/**
 * Parse an HTTP publisher body: a JSON list of samples (batch=True) or one sample object.
 * Items may be `as_dict()` (unsigned) or signed counter_* messages.
 */
export function parseHttpBody(bodyText: string | Buffer, opts?: NormalizeOptions): NormalizeResult {
  const o = resolve(opts);
  const out: NormalizeResult = { samples: [], rejects: [] };
  const d = decodeJson(bodyText, o.maxBodyBytes, 'body', o.referenceReader);
  if ('reject' in d) return out.rejects.push(d.reject), out;
  if (o.keepSource) out.source = d;
  const { value } = d.parsed;
  const ascii = Buffer.isBuffer(bodyText) && bodyText.length === d.text.length;
  if (Array.isArray(value)) takeList(value, { text: d.text, parsed: d.parsed, ascii }, 'either', o, out);
  else if (isObject(value)) takeItem(value, 0, d.text, 0, d.text.length, ascii, 'either', o, out, d.parsed.plainNumbers === true);
  else out.rejects.push({ index: -1, reason: `body: expected a JSON list of samples or one sample object, got ${describeValue(value)}`, payload: bodyText });
  return out;
}

const SAMPLE_EVENT_TYPES = ['telemetry.polling', 'telemetry.api'];

/** A sample notification's event_type: a metering topic, `<topic>.<meter>`, or a telemetry one. */
function isSampleEventType(et: string, topics: readonly string[]): boolean {
  return SAMPLE_EVENT_TYPES.includes(et) || topics.some((t) => et === t || (et.startsWith(`${t}.`) && et.length > t.length + 1));
}

function takeNotification(
  note: Record<string, unknown>,
  src: ItemSource,
  raw: string | Buffer,
  o: Required<NormalizeOptions>,
  out: NormalizeResult,
): void {
  const whole = (reason: string): void => {
    out.rejects.push({ index: -1, reason, payload: raw });
  };
  const et = note.event_type;
  if (typeof et !== 'string' || !isSampleEventType(et, o.meteringTopics)) {
    const topics = o.meteringTopics.map((t) => `${t}, ${t}.<meter>`);
    return whole(`event_type: expected one of ${[...topics, ...SAMPLE_EVENT_TYPES].join(', ')} (a sample notification; configured metering topics: ingest.meteringTopics, amqp.topics), got ${describeValue(et)}`);
  }
  const payload = note.payload;
  let list: TaggedValue[] | undefined;
  if (Array.isArray(payload)) list = payload;
  else if (isObject(payload) && Array.isArray(payload.samples)) list = payload.samples as TaggedValue[];
  if (!list) return whole(`payload: expected a list of meter messages or {"samples": [...]}, got ${describeValue(payload)}`);
  takeList(list, src, 'meter', o, out);
}

function wholeValue(out: NormalizeResult, value: Buffer, reason: string): NormalizeResult {
  out.rejects.push({ index: -1, reason, payload: value });
  return out;
}

/**
 * Parse one Kafka message value: a signed counter_* meter message, an oslo notifier envelope, or
 * an un-enveloped sample notification.
 */
export function parseKafkaValue(value: Buffer, opts?: NormalizeOptions): NormalizeResult {
  const o = resolve(opts);
  const out: NormalizeResult = { samples: [], rejects: [] };
  const d = decodeJson(value, o.maxValueBytes, 'value', o.referenceReader, true);
  if ('reject' in d) return out.rejects.push(d.reject), out;
  const top = d.parsed.value;
  // every character ASCII (bytes = characters): an item's UTF-8 size is then its length
  const ascii = value.length === d.text.length;
  if (!isObject(top)) return wholeValue(out, value, `value: expected one JSON object (a meter message or an oslo envelope), got ${describeValue(top)}`);

  if (Object.prototype.hasOwnProperty.call(top, 'oslo.message')) {
    const version = top['oslo.version'];
    if (version !== undefined && version !== '2.0') return wholeValue(out, value, `oslo.version: expected "2.0", got ${describeValue(version)}`);
    const inner = top['oslo.message'];
    if (typeof inner !== 'string') return wholeValue(out, value, `oslo.message: expected a JSON-encoded string, got ${describeValue(inner)}`);
    let parsed: ParsedJson;
    try {
      parsed = readJson(inner, o.referenceReader);
    } catch (err) {
      if (err instanceof JsonSyntaxError) return wholeValue(out, value, `oslo.message: ${err.message}`);
      throw err;
    }
    if (!isObject(parsed.value)) return wholeValue(out, value, `oslo.message: expected a notification object, got ${describeValue(parsed.value)}`);
    // the notification is ASCII when the envelope was and held no \u escape
    takeNotification(parsed.value, { text: inner, parsed, ascii: ascii && !d.text.includes('\\u') }, value, o, out);
    return out;
  }
  if (Object.prototype.hasOwnProperty.call(top, 'counter_name')) {
    takeItem(top, 0, d.text, 0, d.text.length, ascii, 'meter', o, out, d.parsed.plainNumbers === true);
    return out;
  }
  if (Object.prototype.hasOwnProperty.call(top, 'event_type')) {
    takeNotification(top, { text: d.text, parsed: d.parsed, ascii }, value, o, out);
    return out;
  }
  return wholeValue(out, value, 'value: neither a meter message (no counter_name) nor an oslo envelope (no oslo.message) nor a notification (no event_type)');
}
