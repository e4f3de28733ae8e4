"""Publish samples through Ceilometer's own publisher classes (the interop tests' client).

Reads a JSON plan on stdin:
  {"steps": [{"publisher": "http://…" | "notifier://…" | "udp://…" | "tcp://…",
              "secret": "…", "metering_topic": "metering", "transport_url": "rabbit://…" (optional),
              "samples": [{"name", "type", "unit", "volume", "user_id", "project_id", "resource_id",
                           "timestamp", "resource_metadata", "id"}…],
              "batch": N (optional: publish N samples per publish_samples call),
              "pause": seconds between calls (optional)}…]}
Each step builds a fresh Ceilometer configuration (its telemetry_secret and metering_topic), makes the
publisher Ceilometer's pipeline would make for that URL (ceilometer.publisher entry points) and calls
publish_samples. A batch whose publish raises (e.g. an HTTP read timeout) is dropped and the run goes on,
as Ceilometer's pipeline does. Prints one JSON line per step: {"step": i, "published": n, "failed": m}.
"""
import json
import os
import sys
import tempfile
import time
from urllib import parse as urlparse

from ceilometer import sample as sample_mod
from ceilometer import service
from ceilometer.publisher import http as http_pub
from ceilometer.publisher import messaging as messaging_pub
from ceilometer.publisher import tcp as tcp_pub
from ceilometer.publisher import udp as udp_pub

PUBLISHERS = {
    'http': http_pub.HttpPublisher,
    'notifier': messaging_pub.SampleNotifierPublisher,
    'udp': udp_pub.UDPPublisher,
    'tcp': tcp_pub.TCPPublisher,
}


def make_conf(step):
    lines = ['[DEFAULT]']
    if step.get('transport_url'):
        lines.append('transport_url = %s' % step['transport_url'])
    lines += ['[publisher]', 'telemetry_secret = %s' % step.get('secret', ''),
              '[publisher_notifier]', 'metering_topic = %s' % step.get('metering_topic', 'metering'),
              '[oslo_messaging_rabbit]', 'amqp_durable_queues = %s' % step.get('amqp_durable_queues', False)]
    fd, path = tempfile.mkstemp(suffix='.conf')
    with os.fdopen(fd, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    try:
        return service.prepare_service([], [path])
    finally:
        os.unlink(path)


def main():
    plan = json.load(sys.stdin)
    for i, step in enumerate(plan['steps']):
        conf = make_conf(step)
        url = urlparse.urlparse(step['publisher'])
        publisher = PUBLISHERS[url.scheme](conf, url)
        samples = [sample_mod.Sample(**s) for s in step['samples']]
        batch = step.get('batch') or len(samples) or 1
        failed = 0
        for at in range(0, len(samples), batch):
            try:
                publisher.publish_samples(samples[at:at + batch])
            except Exception as e:  # as Ceilometer's pipeline does: log, drop the batch, go on
                failed += len(samples[at:at + batch])
                print(json.dumps({'failed_batch': len(samples[at:at + batch]), 'error': repr(e)[:200]}), flush=True)
            if step.get('pause'):
                time.sleep(step['pause'])
        print(json.dumps({'step': i, 'published': len(samples), 'failed': failed}), flush=True)


if __name__ == '__main__':
    main()
