/**
 * The host probe: discovers what this host can report (CPU, memory, load, block devices,
 * filesystems, network interfaces, libvirt domains, cgroup v2 units) and reads one poll of values.
 * Thin I/O over the pure parsers in procfs.ts and libvirt.ts; rates (CPU %) are computed between
 * consecutive polls, so the first poll has no CPU utilisation.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { metricKey, type Discovery, type MetricDef, type Poll, type ResourceInfo } from '../metrics';
import { cpuPercent, parseCgroupCpuStat, parseCpuinfo, parseDiskstats, parseLoadavg, parseMeminfo, parseMounts, parseNetDev, parseProcStat, type CpuTimes, type MountEntry } from './procfs';
import { parseDomainXml, parseDomstats, type DomainIdentity } from './libvirt';

export interface ProbeOptions {
  /** Host name used as the host's resource id (default os.hostname()). */
  host?: string;
  /** Root of procfs (default /proc) and sysfs (default /sys). */
  proc?: string;
  sys?: string;
  /** cgroup v2 mount (default: found in /proc/mounts); false = do not look at cgroups. */
  cgroupRoot?: string | false;
  /** virsh executable (default `virsh` when found on PATH); false = no libvirt. */
  virsh?: string | false;
  virshTimeoutMs?: number;
  perCore?: boolean;
  /** Most cgroup units reported (default 256), so a host with thousands of containers stays bounded. */
  maxCgroups?: number;
}

const KB = 1024;

function onPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

interface CgroupUnit {
  resource_id: string;
  dir: string;
}

export class HostProbe {
  readonly host: string;
  private readonly proc: string;
  private readonly sys: string;
  private readonly cgroupRoot: string | undefined;
  private readonly virsh: string | undefined;
  private discovery: Discovery | undefined;
  private mounts: MountEntry[] = [];
  private blockDevices: string[] = [];
  private interfaces: string[] = [];
  private cgroups: CgroupUnit[] = [];
  private readonly domains = new Map<string, DomainIdentity>();
  /** Previous CPU readings by metric key (host, cores, cgroups as µs, domains as ns) with their time. */
  private readonly prevCpu = new Map<string, { t: number; v: CpuTimes | number }>();
  /** Why libvirt or cgroups could not be read, once (shown by discover). */
  readonly notes: string[] = [];

  constructor(private readonly opts: ProbeOptions = {}) {
    this.host = opts.host ?? os.hostname();
    this.proc = opts.proc ?? '/proc';
    this.sys = opts.sys ?? '/sys';
    this.cgroupRoot = opts.cgroupRoot === false ? undefined : (opts.cgroupRoot ?? this.findCgroup2());
    this.virsh = opts.virsh === false ? undefined : (opts.virsh ?? onPath('virsh'));
  }

  private findCgroup2(): string | undefined {
    try {
      for (const line of readFileSync(path.join(this.proc, 'mounts'), 'utf8').split('\n')) {
        const f = line.split(' ');
        if (f[2] === 'cgroup2') return f[1];
      }
    } catch {
      /* no mounts: no cgroups */
    }
    return undefined;
  }

  /** List everything this host can report now (re-run to pick up new disks, interfaces, VMs, units). */
  async discover(): Promise<Discovery> {
    const host = this.host;
    const cpu = parseCpuinfo(readFileSync(path.join(this.proc, 'cpuinfo'), 'utf8'));
    const mem = parseMeminfo(readFileSync(path.join(this.proc, 'meminfo'), 'utf8'));
    const facts = { host, architecture: os.machine(), cpu_model: cpu.model, cpu_cores: cpu.processors || os.cpus().length, memory_total_bytes: mem.get('MemTotal')! * KB };
    const metrics: MetricDef[] = [];
    const resources: ResourceInfo[] = [];
    const add = (r: ResourceInfo, defs: Array<[string, MetricDef['type'], string]>) => {
      resources.push(r);
      for (const [name, type, unit] of defs) metrics.push({ name, type, unit, resource_id: r.resource_id });
    };
    const own = (resource_id: string, kind: ResourceInfo['kind'], metadata: Record<string, unknown>): ResourceInfo => ({ resource_id, kind, project_id: null, user_id: null, metadata: { host, ...metadata } });

    add(own(host, 'host', { cpu_model: facts.cpu_model, architecture: facts.architecture, cpu_cores: facts.cpu_cores, memory_total_bytes: facts.memory_total_bytes }), [
      ['hardware.cpu.util', 'gauge', '%'],
      ['hardware.cpu.load.1min', 'gauge', 'process'],
      ['hardware.cpu.load.5min', 'gauge', 'process'],
      ['hardware.cpu.load.15min', 'gauge', 'process'],
      ['hardware.memory.total', 'gauge', 'KB'],
      ['hardware.memory.used', 'gauge', 'KB'],
      ['hardware.memory.avail', 'gauge', 'KB'],
      ['hardware.memory.buffer', 'gauge', 'KB'],
      ['hardware.memory.cached', 'gauge', 'KB'],
      ['hardware.memory.swap.total', 'gauge', 'KB'],
      ['hardware.memory.swap.avail', 'gauge', 'KB'],
    ]);
    if (this.opts.perCore) {
      const { cores } = parseProcStat(readFileSync(path.join(this.proc, 'stat'), 'utf8'));
      for (const n of [...cores.keys()].sort((a, b) => a - b)) add(own(`${host}.cpu${n}`, 'cpu', { cpu: n }), [['hardware.cpu.util', 'gauge', '%']]);
    }

    // every block device with a size (unused loop devices have none)
    this.blockDevices = [];
    const blockDir = path.join(this.sys, 'block');
    for (const dev of existsSync(blockDir) ? readdirSync(blockDir).sort() : []) {
      let sectors = 0;
      try {
        sectors = Number(readFileSync(path.join(blockDir, dev, 'size'), 'utf8').trim());
      } catch {
        /* unreadable size: treat as empty */
      }
      if (!(sectors > 0)) continue;
      this.blockDevices.push(dev);
      add(own(`${host}.${dev}`, 'disk', { device: dev, size_bytes: sectors * 512 }), [
        ['hardware.disk.read.bytes', 'cumulative', 'B'],
        ['hardware.disk.write.bytes', 'cumulative', 'B'],
        ['hardware.disk.read.requests', 'cumulative', 'request'],
        ['hardware.disk.write.requests', 'cumulative', 'request'],
      ]);
    }

    this.mounts = parseMounts(readFileSync(path.join(this.proc, 'mounts'), 'utf8'));
    for (const m of this.mounts) {
      add(own(`${host}.${m.mountpoint}`, 'filesystem', { mountpoint: m.mountpoint, device: m.source, fstype: m.fstype }), [
        ['hardware.disk.size.total', 'gauge', 'KB'],
        ['hardware.disk.size.used', 'gauge', 'KB'],
      ]);
    }

    // every interface the kernel lists, loopback included
    const netDir = path.join(this.sys, 'class', 'net');
    this.interfaces = existsSync(netDir) ? readdirSync(netDir).sort() : [];
    for (const nic of this.interfaces) {
      let mac: string | undefined;
      try {
        mac = readFileSync(path.join(netDir, nic, 'address'), 'utf8').trim();
      } catch {
        /* no address file */
      }
      add(own(`${host}.${nic}`, 'interface', { name: nic, ...(mac ? { mac } : {}) }), [
        ['hardware.network.incoming.bytes', 'cumulative', 'B'],
        ['hardware.network.outgoing.bytes', 'cumulative', 'B'],
        ['hardware.network.outgoing.errors', 'cumulative', 'packet'],
      ]);
    }

    await this.discoverDomains(add);
    this.discoverCgroups(add);
    this.discovery = { ...facts, metrics, resources };
    return this.discovery;
  }

  private async discoverDomains(add: (r: ResourceInfo, defs: Array<[string, MetricDef['type'], string]>) => void): Promise<void> {
    if (!this.virsh) return;
    const timeout = this.opts.virshTimeoutMs ?? 5000;
    let stats;
    try {
      stats = parseDomstats(await run(this.virsh, ['-r', 'domstats', '--raw', '--list-running'], timeout));
    } catch (err) {
      this.note(`libvirt: virsh domstats failed: ${(err as Error).message.split('\n')[0]}`);
      return;
    }
    const host = this.host;
    for (const d of stats) {
      let id = this.domains.get(d.name);
      if (!id) {
        try {
          id = parseDomainXml(await run(this.virsh, ['-r', 'dumpxml', d.name], timeout));
          this.domains.set(d.name, id);
        } catch (err) {
          this.note(`libvirt: domain ${d.name}: ${(err as Error).message.split('\n')[0]}`);
          continue;
        }
      }
      const meta = { instance_host: host, host, display_name: id.display_name, instance_name: d.name, flavor: id.flavor };
      const owned = (resource_id: string, kind: ResourceInfo['kind'], extra: Record<string, unknown>): ResourceInfo => ({ resource_id, kind, project_id: id!.project_id, user_id: id!.user_id, metadata: { ...meta, ...extra } });
      add(owned(id.uuid, 'instance', { vcpus: d.vcpus ?? null }), [
        ['cpu_util', 'gauge', '%'],
        ['memory.usage', 'gauge', 'MB'],
      ]);
      for (const disk of d.disks) {
        add(owned(`${id.uuid}-${disk.dev}`, 'instance_disk', { instance_id: id.uuid, disk_name: disk.dev }), [
          ['disk.device.read.bytes', 'cumulative', 'B'],
          ['disk.device.write.bytes', 'cumulative', 'B'],
        ]);
      }
      for (const nic of d.nics) {
        add(owned(`${d.name}-${id.uuid}-${nic.name}`, 'instance_nic', { instance_id: id.uuid, vnic_name: nic.name }), [
          ['network.incoming.bytes', 'cumulative', 'B'],
          ['network.outgoing.bytes', 'cumulative', 'B'],
        ]);
      }
    }
  }

  private discoverCgroups(add: (r: ResourceInfo, defs: Array<[string, MetricDef['type'], string]>) => void): void {
    this.cgroups = [];
    const root = this.cgroupRoot;
    if (!root || !existsSync(root)) return;
    const max = this.opts.maxCgroups ?? 256;
    const walk = (dir: string, rel: string, depth: number) => {
      if (depth > 2 || this.cgroups.length >= max) return;
      let entries: string[];
      try {
        entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
      } catch {
        return;
      }
      for (const name of entries) {
        const child = path.join(dir, name);
        const childRel = rel ? `${rel}/${name}` : name;
        if (existsSync(path.join(child, 'cpu.stat')) && this.cgroups.length < max) this.cgroups.push({ resource_id: `${this.host}:${childRel}`, dir: child });
        walk(child, childRel, depth + 1);
      }
    };
    walk(root, '', 1);
    if (this.cgroups.length >= max) this.note(`cgroups: more than ${max} units; only the first ${max} are reported`);
    for (const u of this.cgroups) {
      add({ resource_id: u.resource_id, kind: 'cgroup', project_id: null, user_id: null, metadata: { host: this.host, instance_host: this.host, cgroup: u.resource_id.slice(this.host.length + 1) } }, [
        ['cpu_util', 'gauge', '%'],
        ['memory.usage', 'gauge', 'MB'],
      ]);
    }
  }

  private note(line: string): void {
    if (!this.notes.includes(line)) this.notes.push(line);
  }

  /** Read every discovered metric once. Metrics that cannot be read this time are left out of the poll. */
  async poll(now = Date.now()): Promise<Poll> {
    const d = this.discovery ?? (await this.discover());
    const host = d.host;
    const values = new Map<string, number>();
    const set = (name: string, rid: string, v: number | null | undefined) => {
      if (v !== null && v !== undefined && Number.isFinite(v)) values.set(metricKey(name, rid), v);
    };
    const rate = (key: string, cur: CpuTimes): number | null => {
      const prev = this.prevCpu.get(key);
      this.prevCpu.set(key, { t: now, v: cur });
      return prev && typeof prev.v !== 'number' ? cpuPercent(prev.v, cur) : null;
    };
    const [stat, meminfo, loadavg, diskstats, netdev] = await Promise.all(
      ['stat', 'meminfo', 'loadavg', 'diskstats', 'net/dev'].map((f) => readFile(path.join(this.proc, f), 'utf8').catch(() => '')),
    );
    if (stat) {
      const s = parseProcStat(stat);
      set('hardware.cpu.util', host, rate(host, s.total));
      if (this.opts.perCore) for (const [n, c] of s.cores) set('hardware.cpu.util', `${host}.cpu${n}`, rate(`${host}.cpu${n}`, c));
    }
    if (meminfo) {
      const m = parseMeminfo(meminfo);
      const total = m.get('MemTotal')!;
      const avail = m.get('MemAvailable') ?? (m.get('MemFree') ?? 0) + (m.get('Buffers') ?? 0) + (m.get('Cached') ?? 0);
      set('hardware.memory.total', host, total);
      set('hardware.memory.used', host, total - avail);
      set('hardware.memory.avail', host, avail);
      set('hardware.memory.buffer', host, m.get('Buffers'));
      set('hardware.memory.cached', host, m.get('Cached'));
      set('hardware.memory.swap.total', host, m.get('SwapTotal'));
      set('hardware.memory.swap.avail', host, m.get('SwapFree'));
    }
    if (loadavg) {
      const [l1, l5, l15] = parseLoadavg(loadavg);
      set('hardware.cpu.load.1min', host, l1);
      set('hardware.cpu.load.5min', host, l5);
      set('hardware.cpu.load.15min', host, l15);
    }
    if (diskstats) {
      const ds = parseDiskstats(diskstats);
      for (const dev of this.blockDevices) {
        const c = ds.get(dev);
        if (!c) continue;
        const rid = `${host}.${dev}`;
        set('hardware.disk.read.bytes', rid, c.read_bytes);
        set('hardware.disk.write.bytes', rid, c.write_bytes);
        set('hardware.disk.read.requests', rid, c.read_requests);
        set('hardware.disk.write.requests', rid, c.write_requests);
      }
    }
    for (const m of this.mounts) {
      try {
        const st = statfsSync(m.mountpoint);
        const rid = `${host}.${m.mountpoint}`;
        set('hardware.disk.size.total', rid, (st.blocks * st.bsize) / KB);
        set('hardware.disk.size.used', rid, ((st.blocks - st.bfree) * st.bsize) / KB);
      } catch {
        /* unmounted since discovery: skipped until the next discovery */
      }
    }
    if (netdev) {
      const nd = parseNetDev(netdev);
      for (const nic of this.interfaces) {
        const c = nd.get(nic);
        if (!c) continue;
        const rid = `${host}.${nic}`;
        set('hardware.network.incoming.bytes', rid, c.rx_bytes);
        set('hardware.network.outgoing.bytes', rid, c.tx_bytes);
        set('hardware.network.outgoing.errors', rid, c.tx_errors);
      }
    }
    await this.pollDomains(now, set);
    await this.pollCgroups(now, d.cpu_cores, set);
    return { t: now, values };
  }

  /** CPU % from a cumulative time counter between two polls: Δtime / (Δwall × cpus). */
  private timeRate(key: string, now: number, counter: number, unitsPerMs: number, cpus: number): number | null {
    const prev = this.prevCpu.get(key);
    this.prevCpu.set(key, { t: now, v: counter });
    if (!prev || typeof prev.v !== 'number' || now <= prev.t || counter < prev.v) return null;
    return Math.min(100, (100 * (counter - prev.v)) / unitsPerMs / (now - prev.t) / Math.max(1, cpus));
  }

  private async pollDomains(now: number, set: (name: string, rid: string, v: number | null | undefined) => void): Promise<void> {
    if (!this.virsh || this.domains.size === 0) return;
    let stats;
    try {
      stats = parseDomstats(await run(this.virsh, ['-r', 'domstats', '--raw', '--list-running'], this.opts.virshTimeoutMs ?? 5000));
    } catch {
      return; // libvirt busy or gone: this poll has no VM values
    }
    for (const d of stats) {
      const id = this.domains.get(d.name);
      if (!id) continue; // new since discovery: reported after the next discovery
      if (d.cpu_time_ns !== undefined) set('cpu_util', id.uuid, this.timeRate(`dom:${id.uuid}`, now, d.cpu_time_ns, 1e6, d.vcpus ?? 1));
      if (d.memory_used_kib !== undefined) set('memory.usage', id.uuid, d.memory_used_kib / 1024);
      for (const disk of d.disks) {
        set('disk.device.read.bytes', `${id.uuid}-${disk.dev}`, disk.read_bytes);
        set('disk.device.write.bytes', `${id.uuid}-${disk.dev}`, disk.write_bytes);
      }
      for (const nic of d.nics) {
        set('network.incoming.bytes', `${d.name}-${id.uuid}-${nic.name}`, nic.rx_bytes);
        set('network.outgoing.bytes', `${d.name}-${id.uuid}-${nic.name}`, nic.tx_bytes);
      }
    }
  }

  private async pollCgroups(now: number, cores: number, set: (name: string, rid: string, v: number | null | undefined) => void): Promise<void> {
    await Promise.all(
      this.cgroups.map(async (u) => {
        const [cpu, mem] = await Promise.all([readFile(path.join(u.dir, 'cpu.stat'), 'utf8').catch(() => ''), readFile(path.join(u.dir, 'memory.current'), 'utf8').catch(() => '')]);
        const usec = parseCgroupCpuStat(cpu);
        if (usec !== undefined) set('cpu_util', u.resource_id, this.timeRate(`cg:${u.resource_id}`, now, usec, 1000, cores));
        if (mem.trim()) set('memory.usage', u.resource_id, Number(mem.trim()) / (1024 * 1024));
      }),
    );
  }
}
