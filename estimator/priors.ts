import { prepareSample } from '../pipeline/store/layout';
import { analyzeStack } from './heat/analyze';
import { parseYaml } from '../config/yaml-source';
import { NOVA_DEFAULT_FLAVORS } from './config';
import { meterCatalog, type Catalog } from './meters';
import { iterateStackSamples } from './generator';

/**
 * The reference stack the size priors are measured on: one m1.small server (one vNIC, one disk)
 * (no metering.* metadata: most templates do not tag servers), one 1 GiB volume, one floating IP, one Swift
 * container and one Octavia load balancer with listener, pool, member and health monitor.
 */
export const REFERENCE_STACK = `heat_template_version: 2018-08-31
resources:
  server:
    type: OS::Nova::Server
    properties:
      flavor: m1.small
      image: cirros-0.6.2-x86_64-disk
      networks: [{network: private}]
  volume: {type: OS::Cinder::Volume, properties: {size: 1}}
  fip: {type: OS::Neutron::FloatingIP, properties: {floating_network: public}}
  container: {type: OS::Swift::Container}
  lb: {type: OS::Octavia::LoadBalancer, properties: {vip_subnet: private-subnet}}
  listener: {type: OS::Octavia::Listener, properties: {loadbalancer: {get_resource: lb}, protocol: HTTP, protocol_port: 80}}
  pool: {type: OS::Octavia::Pool, properties: {listener: {get_resource: listener}, protocol: HTTP, lb_algorithm: ROUND_ROBIN}}
  member: {type: OS::Octavia::PoolMember, properties: {pool: {get_resource: pool}, address: 10.0.0.5, protocol_port: 80}}
  monitor: {type: OS::Octavia::HealthMonitor, properties: {pool: {get_resource: pool}, type: PING, delay: 3, max_retries: 3, timeout: 3}}
`;

/**
 * Per meter, the mean BSON size of the stored `meter` documents (pipeline/store/layout.ts) of the
 * reference stack's samples over three polls (rounded to a whole byte), for every meter of both catalogs.
 */
export function measurePriors(): Record<string, number> {
  const inventory = analyzeStack({ template: parseYaml(REFERENCE_STACK, 'reference-stack.yaml'), flavors: NOVA_DEFAULT_FLAVORS, stackName: 'ref' });
  const out: Record<string, number> = {};
  for (const catalog of ['master', 'legacy'] as Catalog[]) {
    const meters = meterCatalog(catalog).map((m) => ({ ...m, interval_s: 600 }));
    const sums = new Map<string, [number, number]>();
    const start = new Date(Date.UTC(2024, 4, 1, 12, 0, 0));
    for (const s of iterateStackSamples({ inventory, meters }, 1800, start)) {
      const size = prepareSample(s, new Date(start.getTime() + 1500)).bsonSize;
      const acc = sums.get(s.counter_name) ?? [0, 0];
      acc[0] += size;
      acc[1] += 1;
      sums.set(s.counter_name, acc);
    }
    for (const [name, [sum, n]] of sums) out[name] ??= Math.round(sum / n);
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}
