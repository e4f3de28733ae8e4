/**
 * libvirt domains (the VMs of a compute host) through `virsh`: `virsh domstats --raw` for the
 * counters of every running domain, `virsh dumpxml` once per domain for its Nova identity (instance
 * uuid, project, user, display name, flavor). Pure parsers here; probe.ts runs virsh.
 */

export interface DomainStats {
  /** libvirt domain name (`instance-0000002a` under Nova). */
  name: string;
  /** Cumulative CPU time, ns. */
  cpu_time_ns?: number;
  vcpus?: number;
  /** Memory the guest uses, KiB (balloon current - unused, else rss). */
  memory_used_kib?: number;
  disks: Array<{ dev: string; read_bytes: number; write_bytes: number }>;
  nics: Array<{ name: string; rx_bytes: number; tx_bytes: number }>;
}

/** Parse `virsh domstats --raw` output (one `Domain: 'name'` block per domain, `key=value` lines). */
export function parseDomstats(text: string): DomainStats[] {
  const out: DomainStats[] = [];
  let cur: Map<string, string> | undefined;
  let name = '';
  const flush = () => {
    if (!cur) return;
    const num = (k: string) => (cur!.has(k) ? Number(cur!.get(k)) : undefined);
    const d: DomainStats = { name, disks: [], nics: [] };
    d.cpu_time_ns = num('cpu.time');
    d.vcpus = num('vcpu.current');
    const current = num('balloon.current');
    const unused = num('balloon.unused');
    d.memory_used_kib = current !== undefined && unused !== undefined ? current - unused : num('balloon.rss');
    for (let i = 0; i < (num('block.count') ?? 0); i++) {
      const dev = cur.get(`block.${i}.name`);
      if (dev) d.disks.push({ dev, read_bytes: num(`block.${i}.rd.bytes`) ?? 0, write_bytes: num(`block.${i}.wr.bytes`) ?? 0 });
    }
    for (let i = 0; i < (num('net.count') ?? 0); i++) {
      const nic = cur.get(`net.${i}.name`);
      if (nic) d.nics.push({ name: nic, rx_bytes: num(`net.${i}.rx.bytes`) ?? 0, tx_bytes: num(`net.${i}.tx.bytes`) ?? 0 });
    }
    out.push(d);
  };
  for (const line of text.split('\n')) {
    const dom = /^Domain:\s+'(.*)'\s*$/.exec(line);
    if (dom) {
      flush();
      name = dom[1]!;
      cur = new Map();
      continue;
    }
    const kv = /^\s+([^=\s]+)=(.*)$/.exec(line);
    if (kv && cur) cur.set(kv[1]!, kv[2]!.trim());
  }
  flush();
  return out;
}

export interface DomainIdentity {
  /** Instance id: the domain uuid (Nova sets it to the instance uuid). */
  uuid: string;
  project_id: string | null;
  user_id: string | null;
  display_name: string | null;
  flavor: string | null;
}

/** Identity from `virsh dumpxml`: `<uuid>` and Nova's `<nova:instance>` metadata when present. */
export function parseDomainXml(xml: string): DomainIdentity {
  const uuid = /<uuid>\s*([^<\s]+)\s*<\/uuid>/.exec(xml)?.[1];
  if (!uuid) throw new Error('domain XML has no <uuid>');
  const attr = (tag: string) => new RegExp(`<nova:${tag}\\s+uuid="([^"]+)"`).exec(xml)?.[1] ?? null;
  return {
    uuid,
    project_id: attr('project'),
    user_id: attr('user'),
    display_name: /<nova:name>([^<]*)<\/nova:name>/.exec(xml)?.[1] ?? null,
    flavor: /<nova:flavor\s+name="([^"]+)"/.exec(xml)?.[1] ?? null,
  };
}
