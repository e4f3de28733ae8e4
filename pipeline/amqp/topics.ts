/**
 * The metering topics a deployment's notifications may carry as event_type: Ceilometer's
 * `[publisher_notifier] metering_topic` (ingest.meteringTopics), the AMQP notifier topics
 * (amqp.topics) and the Kafka topics of the form `<topic>.sample` (kafka.topics), deduplicated.
 */
export function acceptedMeteringTopics(c: { ingest: { meteringTopics: readonly string[] }; amqp?: { topics: readonly string[] }; kafka?: { topics: readonly string[] } }): string[] {
  const fromKafka = (c.kafka?.topics ?? []).filter((t) => t.endsWith('.sample') && t.length > '.sample'.length).map((t) => t.slice(0, -'.sample'.length));
  return [...new Set([...c.ingest.meteringTopics, ...(c.amqp?.topics ?? []), ...fromKafka])];
}
