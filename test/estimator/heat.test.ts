import { execSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseYaml, YamlValidationError } from '../../config/yaml-source';
import { estimateStack, seriesCounts } from '../../estimator/estimate';
import { estimateFile, HOT, memFiles, readFile } from './helpers';

const corpus = execSync(`find ${HOT()} -name '*.yaml'`).toString().trim().split('\n').sort();

describe('the real heat-templates corpus', () => {
  it('has the 48 templates', () => expect(corpus).toHaveLength(48));

  it.each(corpus.map((f) => [f.slice(HOT().length + 1), f]))('%s: estimates or fails with a located error', (_name, file) => {
    try {
      const e = estimateFile(file);
      expect(e.events.per_day).toBeGreaterThanOrEqual(0);
      for (const w of e.warnings.filter((x) => x.includes('.yaml'))) expect(w).toMatch(/\.yaml:\d+: /);
    } catch (err) {
      expect(err).toBeInstanceOf(YamlValidationError);
      expect((err as Error).message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: `));
    }
  });

  it('openshift.yaml: the autoscaling member type comes from a parameter without default → located error naming it; given, it resolves', () => {
    const f = HOT('openshift-origin/F19/hot-template/openshift-scalable-cpu/openshift.yaml');
    expect(() => estimateFile(f)).toThrow(/openshift\.yaml:415: .*asg_template_repo_address/);
    const e = estimateFile(f, { params: { asg_template_repo_address: 'nodeinstance.yaml' } });
    // broker server + 1 node (min_size 1, no desired_capacity), max 4 nodes
    expect(e.resources['OS::Nova::Server']).toBe(2);
    expect(e.upper_bound!.resources['OS::Nova::Server']).toBe(5);
    expect(e.warnings.some((w) => /nodeinstance\.yaml:200: flow collection closed at deficient indentation/.test(w))).toBe(true);
  });

  it('heat_template_version dates stay strings (YAML 1.2 core schema)', () => {
    const src = parseYaml(readFile(HOT('hot/asg_of_servers.yaml')), 'asg_of_servers.yaml');
    expect((src.value as { heat_template_version: unknown }).heat_template_version).toBe('2014-10-16');
  });
});

describe('counts read from real templates', () => {
  it('asg_of_servers: desired_capacity 3, max_size 10 as upper bound', () => {
    const e = estimateFile(HOT('hot/asg_of_servers.yaml'));
    expect(e.resources['OS::Nova::Server']).toBe(3);
    expect(e.upper_bound!.resources['OS::Nova::Server']).toBe(10);
    // master polling.yaml: 4 instance + 4 vNIC + 4 disk-device meters, every 300 s → 12 × 288 per server
    expect(e.events.per_day).toBe(3 * 12 * 288);
    expect(e.upper_bound!.events.per_day).toBe(10 * 12 * 288);
  });

  it('resource_group: count 2', () => {
    expect(estimateFile(HOT('hot/resource_group/resource_group.yaml')).resources['OS::Heat::RandomString']).toBe(2);
  });

  it('server_with_volumes: num_volumes default 2, overridable, typed and range-checked', () => {
    const f = HOT('hot/resource_group/server_with_volumes.yaml');
    const d = estimateFile(f);
    expect(d.resources['OS::Cinder::Volume']).toBe(2);
    expect(d.resources['OS::Cinder::VolumeAttachment']).toBe(2);
    // attached volumes are disk devices of the server: vda + 2
    expect(seriesCounts(d.plan.inventory, 'expected').disk).toBe(3);
    const o = estimateFile(f, { params: { num_volumes: '5' } });
    expect(o.resources['OS::Cinder::Volume']).toBe(5);
    expect(seriesCounts(o.plan.inventory, 'expected').disk).toBe(6);
    expect(() => estimateFile(f, { params: { num_volumes: '11' } })).toThrow(/server_with_volumes\.yaml:\d+: parameters\.num_volumes: .*above the maximum 10/);
    expect(() => estimateFile(f, { params: { num_volumes: 'two' } })).toThrow(/num_volumes.*type number.*not a number/);
    expect(() => estimateFile(f, { params: { nope: '1' } })).toThrow(/parameter "nope" given but not defined/);
  });

  it('asg_of_stacks: counts multiply through the nested vm_with_cinder.yaml', () => {
    const e = estimateFile(HOT('hot/asg_of_stacks.yaml'));
    expect(e.resources['vm_with_cinder.yaml']).toBe(3);
    expect(e.resources['OS::Nova::Server']).toBe(3);
    expect(e.resources['OS::Cinder::Volume']).toBe(3);
    expect(e.upper_bound!.resources['OS::Cinder::Volume']).toBe(5);
    expect(seriesCounts(e.plan.inventory, 'expected').disk).toBe(6); // vda + the attached volume, ×3
  });

  it('instance_group: Size from num_instances (default 1, override 4) with the launch configuration as server', () => {
    const f = HOT('hot/instance_group.yaml');
    expect(estimateFile(f).resources['AWS::EC2::Instance']).toBe(1);
    expect(estimateFile(f, { params: { num_instances: '4' } }).resources['AWS::EC2::Instance']).toBe(4);
  });

  it('WaitCondition count is a signal count, not a resource count', () => {
    const e = estimateFile(HOT('hot/Windows/MSSQLServer/MSSQL.yaml'));
    expect(e.resources['OS::Heat::WaitCondition']).toBe(1);
    expect(e.resources['OS::Nova::Server']).toBe(1);
  });

  it('Mistral CronTrigger count (remaining executions) is not a resource count; environment resource_registry maps NovaNetwork::Server', () => {
    const f = HOT('hot/mistral/templates/autoscaling_using_mistral.yaml');
    const bare = estimateFile(f);
    expect(bare.warnings.some((w) => /autoscaling_using_mistral\.yaml:\d+: .*unknown resource type NovaNetwork::Server/.test(w))).toBe(true);
    const env = { text: 'resource_registry:\n  "NovaNetwork::Server": server_with_ip.yaml\n', file: HOT('hot/mistral/templates/env.yaml') };
    const e = estimateFile(f, { environment: env, params: { remaining_executions: '40' } });
    expect(e.resources['OS::Mistral::CronTrigger']).toBe(2);
    expect(e.resources['OS::Nova::Server']).toBe(1);
    expect(e.resources['OS::Nova::FloatingIP']).toBe(1);
    expect(e.upper_bound!.resources['OS::Nova::Server']).toBe(2);
    const srv = e.plan.inventory.units.find((u) => u.kind === 'server');
    expect(srv && srv.kind === 'server' && srv.userMetadata).toEqual({ stack: e.plan.inventory.stackId });
  });

  it('conditions: resources are kept or dropped by evaluated conditions', () => {
    const f = HOT('hot/condition.yaml');
    // env_type=test, zone=beijing: test_res, test_res1 (test), not_shannxi_res
    expect(estimateFile(f).resources['OS::Heat::TestResource']).toBe(3);
    // prod in beijing: test_res, prod_res, beijing_prod_res, not_shannxi_res
    expect(estimateFile(f, { params: { env_type: 'prod' } }).resources['OS::Heat::TestResource']).toBe(4);
    // prod in xian: test_res, prod_res, shannxi_res
    expect(estimateFile(f, { params: { env_type: 'prod', zone: 'xian' } }).resources['OS::Heat::TestResource']).toBe(3);
    expect(() => estimateFile(f, { params: { env_type: 'staging' } })).toThrow(/env_type.*not one of "prod", "test"/);
  });
});

describe('synthetic templates', () => {
  const dir = '/virtual/stacks';
  const est = (files: Record<string, string>, params: Record<string, unknown> = {}) =>
    estimateStack({ template: { text: files['main.yaml']!, file: `${dir}/main.yaml` }, params, readFile: memFiles(dir, files) });

  it('nesting multiplies: ResourceGroup 2 × nested AutoScalingGroup (desired 3, max 4) of nested servers with 2 NICs', () => {
    const e = est({
      'main.yaml': `heat_template_version: 2016-10-14
parameters: {n: {type: number, default: 2}}
resources:
  g:
    type: OS::Heat::ResourceGroup
    properties: {count: {get_param: n}, resource_def: {type: sub/asg.yaml, properties: {size: 3}}}
`,
      'sub/asg.yaml': `heat_template_version: 2016-10-14
parameters: {size: {type: number}}
resources:
  asg:
    type: OS::Heat::AutoScalingGroup
    properties: {min_size: 1, desired_capacity: {get_param: size}, max_size: 4, resource: {type: server.yaml}}
`,
      'sub/server.yaml': `heat_template_version: 2016-10-14
resources:
  s: {type: OS::Nova::Server, properties: {flavor: m1.tiny, networks: [{network: a}, {port: b}]}}
`,
    });
    expect(e.resources['OS::Nova::Server']).toBe(6);
    expect(e.upper_bound!.resources['OS::Nova::Server']).toBe(8);
    expect(seriesCounts(e.plan.inventory, 'expected')).toMatchObject({ instance: 6, vnic: 12, disk: 6 });
  });

  it('get_param list/path form into a json parameter; AWS autoscaling group', () => {
    const main = `heat_template_version: 2016-10-14
parameters:
  sizes: {type: json, default: {web: [2, 5]}}
  key: {type: string, default: web}
resources:
  asg:
    type: AWS::AutoScaling::AutoScalingGroup
    properties: {MinSize: {get_param: [sizes, {get_param: key}, 0]}, MaxSize: {get_param: [sizes, web, 1]}, LaunchConfigurationName: {get_resource: lc}}
  lc: {type: AWS::AutoScaling::LaunchConfiguration, properties: {ImageId: x, InstanceType: m1.large}}
`;
    const e = est({ 'main.yaml': main });
    expect(e.resources['AWS::EC2::Instance']).toBe(2);
    expect(e.upper_bound!.resources['AWS::EC2::Instance']).toBe(5);
    expect(est({ 'main.yaml': main }, { sizes: '{"web": [4, 6]}' }).resources['AWS::EC2::Instance']).toBe(4);
  });

  it('a count only known after deployment is a located error', () => {
    expect(() =>
      est({ 'main.yaml': `heat_template_version: 2016-10-14
resources:
  r: {type: OS::Heat::RandomString}
  g:
    type: OS::Heat::ResourceGroup
    properties:
      count: {get_attr: [r, value]}
      resource_def: {type: OS::Nova::Server}
` }),
    ).toThrow(/main\.yaml:7: resources\.g\.properties\.count: .*count cannot be determined: get_attr/);
  });

  it('desired_capacity outside min..max, missing nested file, recursion: located errors', () => {
    expect(() => est({ 'main.yaml': `heat_template_version: 2016-10-14
resources:
  a:
    type: OS::Heat::AutoScalingGroup
    properties: {min_size: 2, desired_capacity: 1, max_size: 3, resource: {type: OS::Nova::Server}}
` })).toThrow(/main\.yaml:5: .*desired_capacity 1 is outside min_size\.\.max_size/);
    expect(() => est({ 'main.yaml': 'heat_template_version: 2016-10-14\nresources:\n  x: {type: missing.yaml}\n' })).toThrow(/main\.yaml:3: .*missing\.yaml cannot be read/);
    expect(() => est({ 'main.yaml': 'heat_template_version: 2016-10-14\nresources:\n  x: {type: main.yaml}\n' })).toThrow(/deeper than 10 levels/);
  });

  it('unknown resource types: the known part is estimated, the rest warned with file:line', () => {
    const e = est({ 'main.yaml': `heat_template_version: 2016-10-14
resources:
  s: {type: OS::Nova::Server, properties: {flavor: m1.small}}
  x: {type: My::Custom::Thing}
` });
    expect(e.events.per_day).toBe(12 * 288);
    expect(e.warnings).toContain('/virtual/stacks/main.yaml:4: resources.x: unknown resource type My::Custom::Thing; its meters are not estimated');
  });

  it('malformed YAML and non-templates: located errors', () => {
    expect(() => est({ 'main.yaml': 'heat_template_version: 2016-10-14\nresources:\n  s: {type: OS::Nova::Server\n  t: x\n' })).toThrow(/^\/virtual\/stacks\/main\.yaml:\d+: YAML syntax error/);
    expect(() => est({ 'main.yaml': 'resources: {}\n' })).toThrow(/main\.yaml:1: not a HOT template: heat_template_version is missing/);
    expect(() => est({ 'main.yaml': 'heat_template_version: 2016-10-14\nresources:\n  s: {properties: {}}\n' })).toThrow(/main\.yaml:3: .*type must be a non-empty string/);
  });

  it('an unevaluable condition is warned and the resource counted', () => {
    const e = est({ 'main.yaml': `heat_template_version: 2016-10-14
parameters: {flag: {type: string}}
conditions: {on: {equals: [{get_param: flag}, "yes"]}}
resources:
  s: {type: OS::Nova::Server, condition: on, properties: {flavor: m1.small}}
` });
    expect(e.resources['OS::Nova::Server']).toBe(1);
    expect(e.warnings[0]).toMatch(/main\.yaml:5: resources\.s: condition not evaluated \(parameter "flag" has no default/);
  });
});
