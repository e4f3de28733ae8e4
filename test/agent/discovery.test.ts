import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostProbe } from '../../agent/host/probe';
import { parseDomainXml, parseDomstats } from '../../agent/host/libvirt';
import { parseMounts } from '../../agent/host/procfs';
import { metricKey } from '../../agent/metrics';
import { REPO } from '../support/paths';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'agent-discovery-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('discovery on this machine (real /proc and /sys)', () => {
  const probe = new HostProbe({ cgroupRoot: false, virsh: false });

  it('memory total equals MemTotal, cores equal nproc, the model and architecture are the kernel\'s', async () => {
    const d = await probe.discover();
    const memTotalKb = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]);
    expect(d.memory_total_bytes).toBe(memTotalKb * 1024);
    expect(d.cpu_cores).toBe(Number(execFileSync('nproc', { encoding: 'utf8' }).trim()));
    expect(d.architecture).toBe(execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim());
    const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim();
    if (model) expect(d.cpu_model).toBe(model);
    expect(d.host).toBe(os.hostname());
  });

  it('discovers every interface in /sys/class/net, every sized block device in /sys/block, every data filesystem in /proc/mounts', async () => {
    const d = await probe.discover();
    const ids = new Set(d.metrics.map((m) => m.resource_id));
    const nics = readdirSync('/sys/class/net');
    expect(nics.length).toBeGreaterThan(0);
    for (const nic of nics) expect(ids.has(`${d.host}.${nic}`), nic).toBe(true);
    for (const dev of readdirSync('/sys/block')) {
      const sized = Number(readFileSync(`/sys/block/${dev}/size`, 'utf8')) > 0;
      expect(ids.has(`${d.host}.${dev}`), dev).toBe(sized);
    }
    for (const m of parseMounts(readFileSync('/proc/mounts', 'utf8'))) expect(ids.has(`${d.host}.${m.mountpoint}`), m.mountpoint).toBe(true);
    const names = new Set(d.metrics.map((m) => m.name));
    for (const n of ['hardware.cpu.util', 'hardware.cpu.load.1min', 'hardware.memory.total', 'hardware.memory.used', 'hardware.disk.read.bytes', 'hardware.disk.size.total', 'hardware.network.incoming.bytes', 'hardware.network.outgoing.bytes']) expect(names.has(n), n).toBe(true);
    // host facts ride on the host's own resource (licence compliance reads them there)
    expect(d.resources.find((r) => r.resource_id === d.host)!.metadata).toMatchObject({ cpu_model: d.cpu_model, architecture: d.architecture, cpu_cores: d.cpu_cores });
  });

  it('a poll reads every discovered metric: memory total in kB is MemTotal, interface byte counters are /sys/class/net statistics', async () => {
    const d = await probe.discover();
    await probe.poll(Date.now());
    await new Promise((r) => setTimeout(r, 300)); // CPU time advances in 10 ms ticks: two reads need time between them
    const p = await probe.poll(Date.now());
    expect(p.values.get(metricKey('hardware.memory.total', d.host))).toBe(d.memory_total_bytes / 1024);
    const cpu = p.values.get(metricKey('hardware.cpu.util', d.host))!;
    expect(cpu).toBeGreaterThanOrEqual(0);
    expect(cpu).toBeLessThanOrEqual(100);
    for (const m of d.metrics) if (m.name !== 'hardware.disk.size.used' && m.name !== 'hardware.disk.size.total') expect(p.values.has(metricKey(m.name, m.resource_id)), `${m.name} ${m.resource_id}`).toBe(true);
    const lo = Number(readFileSync('/sys/class/net/lo/statistics/rx_bytes', 'utf8'));
    const polled = p.values.get(metricKey('hardware.network.incoming.bytes', `${d.host}.lo`));
    if (polled !== undefined) expect(Math.abs(polled - lo)).toBeLessThan(10 * 1024 * 1024); // the counter moves between the two reads
  });

  it('per-core utilisation on request: one resource per CPU', async () => {
    const d = await new HostProbe({ perCore: true, cgroupRoot: false, virsh: false }).discover();
    const cores = d.metrics.filter((m) => /\.cpu\d+$/.test(m.resource_id));
    expect(cores).toHaveLength(os.cpus().length);
  });

  it.each([
    ['metering agent discover --json', ['bin/metering.mjs', 'agent']],
    ['metering-agent discover --json (the agent\'s own bundled entry)', ['bin/metering-agent.mjs']],
  ])('`%s` prints the documented shape', (_name, entry) => {
    const r = spawnSync(process.execPath, [path.join(REPO, entry[0]!), ...entry.slice(1), 'discover', '--json'], { encoding: 'utf8', cwd: REPO, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.memory_total_bytes).toBe(Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024);
    expect(Object.keys(j).sort()).toEqual(['architecture', 'cpu_cores', 'cpu_model', 'host', 'memory_total_bytes', 'metrics']);
    expect(j.metrics.length).toBeGreaterThan(10);
    for (const m of j.metrics) expect(Object.keys(m).sort()).toEqual(['name', 'resource_id', 'type', 'unit']);
  }, 60_000);
});

describe('VMs and containers', () => {
  it('cgroup v2 units: every unit with cpu.stat (two levels deep) reports cpu_util between polls and memory.usage in MB', async () => {
    const root = path.join(tmp, 'cgroup');
    const unit = path.join(root, 'system.slice', 'web.service');
    mkdirSync(unit, { recursive: true });
    mkdirSync(path.join(root, 'empty.slice'));
    writeFileSync(path.join(root, 'system.slice', 'cpu.stat'), 'usage_usec 0\n');
    writeFileSync(path.join(unit, 'cpu.stat'), 'usage_usec 1000000\nuser_usec 1\n');
    writeFileSync(path.join(unit, 'memory.current'), String(256 * 1024 * 1024));
    const probe = new HostProbe({ host: 'h1', cgroupRoot: root, virsh: false });
    const d = await probe.discover();
    const units = d.resources.filter((r) => r.kind === 'cgroup').map((r) => r.resource_id);
    expect(units).toEqual(['h1:system.slice', 'h1:system.slice/web.service']);
    expect(d.resources.find((r) => r.resource_id === 'h1:system.slice/web.service')!.metadata.instance_host).toBe('h1');
    const t = Date.now();
    await probe.poll(t);
    writeFileSync(path.join(unit, 'cpu.stat'), `usage_usec ${1_000_000 + 500_000 * d.cpu_cores}\n`); // half of every core for one second
    const p = await probe.poll(t + 1000);
    expect(p.values.get(metricKey('cpu_util', 'h1:system.slice/web.service'))).toBeCloseTo(50, 6);
    expect(p.values.get(metricKey('memory.usage', 'h1:system.slice/web.service'))).toBe(256);
  });

  it('libvirt: virsh domstats and dumpxml become instances (Nova uuid, project, instance_host) with Ceilometer meters', () => {
    const stats = parseDomstats(`Domain: 'instance-0000002a'
  state.state=1
  cpu.time=2000000000
  balloon.current=2097152
  balloon.unused=1048576
  vcpu.current=2
  net.count=1
  net.0.name=tap1a2b
  net.0.rx.bytes=1500
  net.0.tx.bytes=900
  block.count=1
  block.0.name=vda
  block.0.rd.bytes=4096
  block.0.wr.bytes=8192

Domain: 'instance-0000002b'
  cpu.time=5
`);
    expect(stats).toEqual([
      { name: 'instance-0000002a', cpu_time_ns: 2e9, vcpus: 2, memory_used_kib: 1048576, disks: [{ dev: 'vda', read_bytes: 4096, write_bytes: 8192 }], nics: [{ name: 'tap1a2b', rx_bytes: 1500, tx_bytes: 900 }] },
      { name: 'instance-0000002b', cpu_time_ns: 5, vcpus: undefined, memory_used_kib: undefined, disks: [], nics: [] },
    ]);
    const id = parseDomainXml(`<domain type='kvm'><name>instance-0000002a</name><uuid>5c9e-uuid</uuid><metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:name>web-1</nova:name><nova:flavor name="m1.small"/><nova:owner><nova:user uuid="u-1">alice</nova:user><nova:project uuid="p-1">demo</nova:project></nova:owner></nova:instance></metadata></domain>`);
    expect(id).toEqual({ uuid: '5c9e-uuid', project_id: 'p-1', user_id: 'u-1', display_name: 'web-1', flavor: 'm1.small' });
    expect(() => parseDomainXml('<domain/>')).toThrow(/no <uuid>/);
  });

  it('a fake virsh on PATH: domains are discovered and polled through it', async () => {
    const bin = path.join(tmp, 'bin');
    mkdirSync(bin, { recursive: true });
    const virsh = path.join(bin, 'virsh');
    writeFileSync(virsh, `#!/bin/sh
if [ "$2" = "domstats" ]; then printf "Domain: 'instance-1'\\n  cpu.time=\${CPU_NS:-0}\\n  vcpu.current=1\\n  balloon.rss=524288\\n  block.count=1\\n  block.0.name=vda\\n  block.0.rd.bytes=10\\n  block.0.wr.bytes=20\\n  net.count=0\\n"; fi
if [ "$2" = "dumpxml" ]; then echo "<domain><uuid>inst-uuid</uuid><nova:project uuid=\\"proj\\">p</nova:project></domain>"; fi
`, { mode: 0o755 });
    const probe = new HostProbe({ host: 'h2', cgroupRoot: false, virsh });
    const d = await probe.discover();
    const inst = d.resources.find((r) => r.kind === 'instance')!;
    expect(inst).toMatchObject({ resource_id: 'inst-uuid', project_id: 'proj', metadata: { instance_host: 'h2', instance_name: 'instance-1' } });
    expect(d.metrics.filter((m) => m.resource_id.startsWith('inst-uuid')).map((m) => m.name).sort()).toEqual(['cpu_util', 'disk.device.read.bytes', 'disk.device.write.bytes', 'memory.usage']);
    const p = await probe.poll(Date.now());
    expect(p.values.get(metricKey('memory.usage', 'inst-uuid'))).toBe(512);
    expect(p.values.get(metricKey('disk.device.write.bytes', 'inst-uuid-vda'))).toBe(20);
  });
});
