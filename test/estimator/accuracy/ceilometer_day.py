"""A stack's samples produced by Ceilometer's own polling code (PyPI ceilometer), not by the estimator.

Reads a JSON job on stdin:
  {"polling_file", "url", "start", "seconds", "project_id", "user_id",
   "servers": [{"id", "name", "instance_name", "flavor": {...}, "image_id", "metadata", "nics": [...], "disks": [...]}]}
From polling.yaml (read here with PyYAML, independently of the estimator) it takes every source's
interval and meters; the compute pollsters of those meters are Ceilometer's own classes found through
its `ceilometer.poll.compute` entry points. Only the hypervisor is simulated: a libvirt-like inspector
returns growing counters for the servers' devices (NICs and disks as the job lists them). Each poll's
samples are timestamped at the simulated poll time and sent with Ceilometer's HttpPublisher (the
`http://` publisher) to `url`. Prints a JSON summary on stdout.
"""
import collections
import datetime
import fnmatch
import json
import sys
import types
from importlib import metadata as md
from urllib import parse

import yaml
from ceilometer import service
from ceilometer.compute import pollsters as compute_pollsters
from ceilometer.compute.virt import inspector as virt_inspector
from ceilometer.publisher import http as http_publisher

job = json.load(sys.stdin)
conf = service.prepare_service(argv=[], config_files=[])

with open(job["polling_file"]) as f:
    polling = yaml.safe_load(f)

compute_eps = {e.name: e for e in md.entry_points(group="ceilometer.poll.compute")}


def selected(patterns, name):
    inc = [p for p in patterns if not p.startswith("!")]
    exc = [p[1:] for p in patterns if p.startswith("!")]
    return (not inc or any(fnmatch.fnmatch(name, p) for p in inc)) and not any(fnmatch.fnmatch(name, p) for p in exc)


class Inspector:
    """Stands in for libvirt: growing counters per poll (k) for every listed NIC and disk."""

    k = 0

    def inspect_instance(self, instance, duration=None):
        k = self.k
        return virt_inspector.InstanceStats(
            power_state=1, cpu_number=instance.flavor["vcpus"], cpu_time=10**9 * 37 * (k + 1),
            memory_actual=instance.flavor["ram"], memory_available=instance.flavor["ram"] - 100 - k % 50,
            memory_usage=400 + (k * 7) % 300, memory_resident=380 + k % 40, memory_swap_in=0, memory_swap_out=0)

    def inspect_vnics(self, instance, duration=None):
        for i, nic in enumerate(instance.nics):
            n = self.k + 1
            yield virt_inspector.InterfaceStats(
                name=nic, mac="fa:16:3e:00:%02x:%02x" % (sum(map(ord, instance.id)) % 256, i), fref=None,
                parameters={"interfaceid": None, "bridge": None}, rx_bytes=153_000 * n, tx_bytes=97_000 * n,
                rx_packets=1_200 * n, tx_packets=900 * n, rx_drop=0, tx_drop=0, rx_errors=0, tx_errors=0,
                rx_bytes_delta=153_000, tx_bytes_delta=97_000)

    def inspect_disks(self, instance, duration=None):
        for d in instance.disks:
            n = self.k + 1
            yield virt_inspector.DiskStats(device=d, read_bytes=4_096_000 * n, read_requests=310 * n, write_bytes=8_192_000 * n,
                                           write_requests=520 * n, errors=0, wr_total_times=2_000_000 * n, rd_total_times=1_000_000 * n)


inspector = Inspector()
compute_pollsters.GenericComputePollster._inspector = inspector

instances = []
for s in job["servers"]:
    inst = types.SimpleNamespace(
        id=s["id"], name=s["name"], flavor=s["flavor"], image={"id": s["image_id"], "links": []}, hostId="host-" + s["id"][:8],
        status="ACTIVE", metadata=s.get("metadata", {}), user_id=job["user_id"], tenant_id=job["project_id"],
        nics=s["nics"], disks=s["disks"])
    setattr(inst, "OS-EXT-SRV-ATTR:instance_name", s["instance_name"])
    setattr(inst, "OS-EXT-SRV-ATTR:host", "compute-1")
    setattr(inst, "OS-EXT-STS:vm_state", "active")
    setattr(inst, "OS-EXT-STS:task_state", None)
    instances.append(inst)

start = datetime.datetime.fromisoformat(job["start"].replace("Z", "+00:00")).replace(tzinfo=None)
end = start + datetime.timedelta(seconds=job["seconds"])
publisher = http_publisher.HttpPublisher(conf, parse.urlparse(job["url"]))

per_meter = collections.Counter()
skipped = set()
sources = []
for src in polling["sources"]:
    interval = int(src["interval"])
    meters = [m for m in compute_eps if selected(src.get("meters", []), m)]
    skipped.update(m for m in src.get("meters", []) if not m.startswith("!") and not any(fnmatch.fnmatch(c, m) for c in compute_eps))
    pollsters = [compute_eps[m].load()(conf) for m in sorted(meters)]
    sources.append({"name": src["name"], "interval": interval, "meters": sorted(meters)})
    t = start
    k = 0
    while t < end:
        inspector.k = k
        cache = {}
        batch = []
        for p in pollsters:
            for smp in p.get_samples(None, cache, instances):
                smp.set_timestamp(t.isoformat())
                batch.append(smp)
                per_meter[smp.name] += 1
        for i in range(0, len(batch), 500):
            publisher.publish_samples(batch[i:i + 500])
        t += datetime.timedelta(seconds=interval)
        k += 1

json.dump({"samples": sum(per_meter.values()), "per_meter": per_meter, "sources": sources, "not_compute": sorted(skipped)}, sys.stdout)
