/**
 * Pure parsers of the Linux text interfaces the agent reads (/proc and /sys). Each takes the file's
 * text and returns numbers; the I/O lives in probe.ts. Formats: proc(5), Documentation/admin-guide/iostats.rst.
 */

export interface CpuTimes {
  /** Jiffies spent not idle (user+nice+system+irq+softirq+steal). */
  busy: number;
  /** Jiffies idle (idle+iowait). */
  idle: number;
}

/** `/proc/stat`: the aggregate `cpu` line and one entry per `cpuN` line. */
export function parseProcStat(text: string): { total: CpuTimes; cores: Map<number, CpuTimes> } {
  let total: CpuTimes | undefined;
  const cores = new Map<number, CpuTimes>();
  for (const line of text.split('\n')) {
    const m = /^cpu(\d*)\s+(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user/nice)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    const t = { busy: user + nice + system + irq + softirq + steal, idle: idle + iowait };
    if (m[1] === '') total = t;
    else cores.set(Number(m[1]), t);
  }
  if (!total) throw new Error('/proc/stat: no aggregate "cpu" line');
  return { total, cores };
}

/** Busy percentage between two readings of the same CPU (null when no time passed). */
export function cpuPercent(prev: CpuTimes, cur: CpuTimes): number | null {
  const busy = cur.busy - prev.busy;
  const all = busy + (cur.idle - prev.idle);
  if (all <= 0 || busy < 0) return null;
  return (100 * busy) / all;
}

/** `/proc/meminfo` as kB values by field name (`MemTotal`, `MemAvailable`, …). */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  if (!out.has('MemTotal')) throw new Error('/proc/meminfo: no MemTotal line');
  return out;
}

/** `/proc/loadavg`: the 1, 5 and 15 minute load averages. */
export function parseLoadavg(text: string): [number, number, number] {
  const f = text.trim().split(/\s+/).slice(0, 3).map(Number);
  if (f.length !== 3 || f.some((x) => !Number.isFinite(x))) throw new Error(`/proc/loadavg: unreadable "${text.trim()}"`);
  return f as [number, number, number];
}

export interface DiskCounters {
  read_bytes: number;
  write_bytes: number;
  read_requests: number;
  write_requests: number;
}

/** `/proc/diskstats` by device name; sectors are always 512 bytes in this file. */
export function parseDiskstats(text: string): Map<string, DiskCounters> {
  const out = new Map<string, DiskCounters>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14) continue;
    out.set(f[2]!, { read_requests: Number(f[3]), read_bytes: Number(f[5]) * 512, write_requests: Number(f[7]), write_bytes: Number(f[9]) * 512 });
  }
  return out;
}

export interface NetCounters {
  rx_bytes: number;
  tx_bytes: number;
  rx_packets: number;
  tx_packets: number;
  tx_errors: number;
}

/** `/proc/net/dev` by interface name. */
export function parseNetDev(text: string): Map<string, NetCounters> {
  const out = new Map<string, NetCounters>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.includes('|')) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (f.length < 16) continue;
    out.set(name, { rx_bytes: f[0]!, rx_packets: f[1]!, tx_bytes: f[8]!, tx_packets: f[9]!, tx_errors: f[10]! });
  }
  return out;
}

export interface CpuInfo {
  model: string;
  /** Logical processors listed. */
  processors: number;
}

/** `/proc/cpuinfo`: the first model name (x86 `model name`, arm `Hardware`/`CPU part`, s390 `processor 0`, ppc `cpu`). */
export function parseCpuinfo(text: string): CpuInfo {
  let model: string | undefined;
  let processors = 0;
  for (const line of text.split('\n')) {
    const m = /^([^:]+?)\s*:\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    if (key === 'processor') processors++;
    if (!model && (key === 'model name' || key === 'cpu' || key === 'hardware' || key === 'cpu model') && m[2]!.trim()) model = m[2]!.trim();
  }
  return { model: model ?? 'unknown', processors };
}

export interface MountEntry {
  source: string;
  mountpoint: string;
  fstype: string;
}

/** Filesystem types that hold data on a device (pseudo and memory filesystems are left out). */
const DATA_FS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'zfs', 'f2fs', 'jfs', 'reiserfs', 'vfat', 'exfat', 'ntfs', 'ntfs3', 'nfs', 'nfs4', 'cifs', 'smb3', 'ceph', 'glusterfs', 'fuseblk', 'overlay']);

/** `/proc/mounts` (octal escapes such as `\040` decoded), data filesystems only, each mount point once. */
export function parseMounts(text: string): MountEntry[] {
  const seen = new Set<string>();
  const out: MountEntry[] = [];
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 3) continue;
    const entry = { source: unescape(f[0]!), mountpoint: unescape(f[1]!), fstype: f[2]! };
    if (!DATA_FS.has(entry.fstype) || seen.has(entry.mountpoint)) continue;
    seen.add(entry.mountpoint);
    out.push(entry);
  }
  return out;
}

/** `cpu.stat` of a cgroup v2: `usage_usec`. */
export function parseCgroupCpuStat(text: string): number | undefined {
  const m = /^usage_usec\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}
