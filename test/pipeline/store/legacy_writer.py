"""Ceilometer's old MongoDB storage driver's write path, re-enacted with pymongo.

Ceilometer 27 no longer ships its MongoDB driver; this re-enacts `record_metering_data_batch` of
7.0.0 (`storage/impl_mongodb.py`, described in ../shared/research/ceilometer.md section 4) over
messages built by Ceilometer's own `meter_message_from_counter`, so the database it leaves behind
is what a deployment that ran that driver holds: redelivered notifications stored again (the driver
never deduplicated), keys escaped with `improve_keys`, numbers as pymongo encodes Python ints and
floats, naive UTC datetimes.

Input (stdin, JSON): {"uri", "database", "secret", "batches": [[sample, ...], ...]} where a sample is
the arguments of ceilometer.sample.Sample plus an optional "message_id". Each batch is written with
its own recorded_at, in order. Output: {"inserted": n}.
"""
import datetime
import json
import sys

import pymongo
from oslo_utils import timeutils

from ceilometer import sample as ceilo_sample
from ceilometer.publisher import utils


def improve_keys(data, metaquery=False):
    """The old driver's key escaping: 'a.b' nests, a leading '$' becomes '%24'."""
    if not isinstance(data, dict):
        return data
    new = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = improve_keys(value)
        if '.' in key:
            head, _, tail = key.partition('.')
            new.setdefault(head, {})
            new[head] = dict(new[head], **improve_keys({tail: value}))
            continue
        if key.startswith('$'):
            key = '%24' + key[1:]
        new[key] = value
    return new


def record_metering_data_batch(db, samples):
    now = timeutils.utcnow()
    by_resource = {}
    for s in sorted(samples, key=lambda s: (s['resource_id'], s['timestamp'])):
        by_resource.setdefault(s['resource_id'], []).append(s)
    for resource_id, group in by_resource.items():
        last = group[-1]
        meters = [{'counter_name': s['counter_name'], 'counter_type': s['counter_type'], 'counter_unit': s['counter_unit']} for s in group]
        first_ts = group[0]['timestamp']
        last_ts = last['timestamp']
        resource = db.resource.find_one_and_update(
            {'_id': resource_id},
            {'$set': {'project_id': last['project_id'], 'user_id': last['user_id'], 'source': last['source']},
             '$setOnInsert': {'metadata': last['resource_metadata'], 'first_sample_timestamp': first_ts,
                              'last_sample_timestamp': last_ts},
             '$addToSet': {'meter': {'$each': meters}}},
            upsert=True, return_document=pymongo.ReturnDocument.AFTER)
        if resource.get('last_sample_timestamp') <= last_ts:
            db.resource.update_one({'_id': resource_id}, {'$set': {'metadata': last['resource_metadata'], 'last_sample_timestamp': last_ts}})
        if resource.get('first_sample_timestamp') > first_ts:
            db.resource.update_one({'_id': resource_id}, {'$set': {'first_sample_timestamp': first_ts}})
    docs = [dict(s, recorded_at=now) for s in samples]
    db.meter.insert_many(docs)
    return len(docs)


def main():
    spec = json.load(sys.stdin)
    client = pymongo.MongoClient(spec['uri'], serverSelectionTimeoutMS=5000)
    db = client[spec['database']]
    inserted = 0
    for batch in spec['batches']:
        samples = []
        for raw in batch:
            message_id = raw.pop('message_id', None)
            s = ceilo_sample.Sample(**raw)
            if message_id:
                s.id = message_id
            msg = utils.meter_message_from_counter(s, spec['secret'])
            # what the 7.0.0 dispatcher did before storing
            msg['timestamp'] = timeutils.normalize_time(timeutils.parse_isotime(msg['timestamp']))
            msg['resource_metadata'] = improve_keys(msg['resource_metadata'])
            for k in ('monotonic_time', 'user_name', 'project_name'):  # added after 7.0.0
                msg.pop(k, None)
            samples.append(msg)
        inserted += record_metering_data_batch(db, samples)
    print(json.dumps({'inserted': inserted}))


main()
