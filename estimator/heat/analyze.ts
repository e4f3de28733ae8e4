import path from 'node:path';
import { createHash } from 'node:crypto';
import { YamlValidationError, type YamlPath, type YamlSource } from '../../config/yaml-source';
import { parseHot } from './parse';
import type { Flavor } from '../config';
import {
  checkConstraints, coerceParam, evalCondition, evaluate, located, ResourceRef, Unknown, type ParamDef, type Scope,
} from './values';

/**
 * HOT template analysis: which resources a stack will have and how many of each, through
 * parameters, conditions, resource groups, autoscaling groups and nested templates.
 * Pure: nested files come through `readFile`.
 */

/** Expected count (what the stack starts with) and upper bound (autoscaling groups at max_size). */
export interface Mult {
  expected: number;
  upper: number;
}

export interface ServerUnit {
  kind: 'server';
  /** Logical path, e.g. `asg/my_instance` (unique per unit). */
  key: string;
  /** file:line of the resource definition. */
  where: string;
  count: Mult;
  flavor: string | null;
  flavorSpec: Flavor | null;
  image: string | null;
  name: string | null;
  /** Virtual NICs per instance (one per `networks` entry; 1 when Nova picks the network). */
  vnics: number;
  /** Disk devices every instance has (vda, vdb for an ephemeral disk, block device mappings). */
  disks: string[];
  /** Volumes attached with VolumeAttachment resources, across all instances of the unit. */
  attached: Mult;
  /** `metering.*` server metadata as Ceilometer copies it to resource_metadata.user_metadata. */
  userMetadata: Record<string, string>;
}

export type SimpleKind = 'volume' | 'floating_ip' | 'port' | 'container' | 'loadbalancer' | 'listener' | 'pool' | 'member' | 'health_monitor';
export interface SimpleUnit {
  kind: SimpleKind;
  key: string;
  where: string;
  count: Mult;
  /** Volume size in GiB (volumes), when known. */
  size_gb?: number | null;
  name?: string | null;
}
export type Unit = ServerUnit | SimpleUnit;

export interface StackInventory {
  stackName: string;
  stackId: string;
  units: Unit[];
  /** Resource type → count, over the whole stack including nested stacks (groups count once each). */
  resources: Record<string, Mult>;
  warnings: string[];
}

export interface Environment {
  parameters: Record<string, unknown>;
  parameter_defaults: Record<string, unknown>;
  /** Resource type → template file (absolute or relative to the environment file) or another type. */
  resource_registry: Record<string, string>;
  /** Directory relative registry paths are resolved against. */
  baseDir: string;
}

export interface AnalyzeInput {
  template: YamlSource;
  params?: Record<string, unknown>;
  environment?: Environment;
  flavors: Record<string, Flavor>;
  /** Reads a nested template or get_file target; absolute path in, text out. Missing → throw. */
  readFile?: (file: string) => string;
  stackName?: string;
  /** The stack's id (`OS::stack_id`); default: derived from the stack name. Onboarding passes Heat's real id. */
  stackId?: string;
}

const MAX_DEPTH = 10;

/** Resource types known to produce no polled Ceilometer samples of their own. */
const NO_METERS = new Set([
  'OS::Heat::SoftwareConfig', 'OS::Heat::SoftwareDeployment', 'OS::Heat::SoftwareDeployments', 'OS::Heat::SoftwareDeploymentGroup',
  'OS::Heat::StructuredConfig', 'OS::Heat::StructuredDeployment', 'OS::Heat::StructuredDeployments', 'OS::Heat::StructuredDeploymentGroup',
  'OS::Heat::MultipartMime', 'OS::Heat::CloudConfig', 'OS::Heat::RandomString', 'OS::Heat::TestResource', 'OS::Heat::None',
  'OS::Heat::Value', 'OS::Heat::WaitCondition', 'OS::Heat::WaitConditionHandle', 'OS::Heat::UpdateWaitConditionHandle',
  'OS::Heat::ScalingPolicy', 'OS::Heat::DeployedServer', 'OS::Heat::SwiftSignal', 'OS::Heat::SwiftSignalHandle',
  'OS::Heat::AccessPolicy', 'OS::Heat::HARestarter', 'OS::Heat::CloudWatchAlarm',
  'AWS::CloudFormation::WaitCondition', 'AWS::CloudFormation::WaitConditionHandle', 'AWS::AutoScaling::LaunchConfiguration',
  'AWS::AutoScaling::ScalingPolicy', 'AWS::EC2::SecurityGroup', 'AWS::IAM::User', 'AWS::IAM::AccessKey', 'AWS::CloudWatch::Alarm',
  'OS::Neutron::Net', 'OS::Neutron::Subnet', 'OS::Neutron::Router', 'OS::Neutron::RouterInterface', 'OS::Neutron::RouterGateway',
  'OS::Neutron::SecurityGroup', 'OS::Neutron::SecurityGroupRule', 'OS::Neutron::FloatingIPAssociation', 'OS::Neutron::Trunk',
  'OS::Neutron::ProviderNet', 'OS::Neutron::NetworkGate', 'OS::Neutron::QoSPolicy', 'OS::Neutron::QoSBandwidthLimitRule',
  'OS::Nova::KeyPair', 'OS::Nova::ServerGroup', 'OS::Nova::FloatingIPAssociation', 'OS::Nova::Flavor',
  'OS::Cinder::VolumeType', 'OS::Cinder::EncryptedVolumeType', 'OS::Cinder::QoSSpecs',
  'OS::Ceilometer::Alarm', 'OS::Ceilometer::CombinationAlarm', 'OS::Aodh::Alarm', 'OS::Aodh::EventAlarm', 'OS::Aodh::CompositeAlarm',
  'OS::Aodh::GnocchiAggregationByResourcesAlarm', 'OS::Aodh::GnocchiAggregationByMetricsAlarm', 'OS::Aodh::GnocchiResourcesAlarm',
  'OS::Mistral::Workflow', 'OS::Mistral::CronTrigger', 'OS::Mistral::ExternalResource', 'OS::Zaqar::Queue', 'OS::Zaqar::MistralTrigger',
  'OS::Zaqar::Subscription', 'OS::Keystone::User', 'OS::Keystone::Role', 'OS::Keystone::Project', 'OS::Keystone::Group',
  'OS::Keystone::Endpoint', 'OS::Keystone::Service', 'OS::Keystone::Region', 'OS::Keystone::RoleAssignment',
  'OS::Monasca::Notification', 'OS::Monasca::AlarmDefinition', 'OS::Magnum::ClusterTemplate', 'OS::Barbican::Secret',
  'OS::Octavia::L7Policy', 'OS::Octavia::L7Rule', 'OS::Designate::Zone', 'OS::Designate::RecordSet', 'OS::Glance::WebImage',
]);

/** Types known to create metered resources outside what the estimator models (warned, not estimated). */
const OUT_OF_MODEL: Record<string, string> = {
  'OS::Magnum::Cluster': 'creates master_count + node_count servers in a separate Magnum-owned stack',
  'OS::Zun::Container': 'Zun containers have no Ceilometer pollsters',
  'OS::Trove::Instance': 'Trove instances are metered through Trove notifications, not modelled',
  'OS::Sahara::Cluster': 'Sahara clusters are not modelled',
};

const FILE_TYPE = /\.(ya?ml|template|json)$/i;

function uuidFrom(seed: string): string {
  const h = createHash('sha1').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

class Analyzer {
  readonly units: Unit[] = [];
  readonly resources: Record<string, Mult> = {};
  readonly warnings: string[] = [];
  private readonly servers = new Map<string, ServerUnit>();
  private readonly attachments: { ref: unknown; mult: Mult; where: string; key: string }[] = [];
  private scopeSeq = 0;

  constructor(readonly input: AnalyzeInput, readonly stackName: string, readonly stackId: string) {}

  parse(text: string, file: string): YamlSource {
    const { src, warnings } = parseHot(text, file);
    this.warnings.push(...warnings);
    return src;
  }

  warn(src: YamlSource, p: YamlPath, msg: string): void {
    this.warnings.push(`${src.file}:${src.lineOf(p)}: ${msg}`);
  }

  makeScope(src: YamlSource, given: Record<string, unknown>, root: boolean, refPath: YamlPath | null, parent: Scope | null): Scope {
    const doc = src.value;
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw located(src, [], 'not a HOT template: expected a mapping');
    const t = doc as Record<string, unknown>;
    if (!('heat_template_version' in t) && !('HeatTemplateFormatVersion' in t) && !('AWSTemplateFormatVersion' in t)) {
      throw located(src, [], 'not a HOT template: heat_template_version is missing');
    }
    const v = t.heat_template_version;
    if (v !== undefined && typeof v !== 'string') {
      throw located(src, ['heat_template_version'], `heat_template_version must be a date string or release name, got ${typeof v}`);
    }
    const defsRaw = (t.parameters ?? t.Parameters ?? {}) as Record<string, unknown>;
    if (typeof defsRaw !== 'object' || Array.isArray(defsRaw)) throw located(src, ['parameters'], 'parameters must be a mapping');
    const paramDefs: Record<string, ParamDef> = {};
    for (const [name, d] of Object.entries(defsRaw)) {
      if (!d || typeof d !== 'object') throw located(src, ['parameters', name], 'parameter definition must be a mapping');
      const dd = d as Record<string, unknown>;
      paramDefs[name] = { type: String(dd.type ?? dd.Type ?? 'string'), default: dd.default ?? dd.Default, constraints: dd.constraints as unknown[] | undefined };
    }
    const env = this.input.environment;
    const params = new Map<string, unknown>();
    const set = (name: string, raw: unknown, where: YamlPath, from: string) => {
      const def = paramDefs[name]!;
      try {
        const v = coerceParam(name, def, raw);
        checkConstraints(name, def, v);
        params.set(name, v);
      } catch (e) {
        throw located(src, where, `${(e as Error).message} (${from})`);
      }
    };
    for (const [name, def] of Object.entries(paramDefs)) {
      if (def.default !== undefined && def.default !== null) params.set(name, coerceSafe(name, def, def.default));
      if (env && name in env.parameter_defaults) set(name, env.parameter_defaults[name], ['parameters', name], 'environment parameter_defaults');
    }
    const callerLabel = root ? 'caller value' : `value passed at ${parent ? `${parent.src.file}:${parent.src.lineOf(refPath ?? [])}` : 'parent'}`;
    const givenAll = root && env ? { ...env.parameters, ...given } : given;
    for (const [name, raw] of Object.entries(givenAll)) {
      if (!(name in paramDefs)) {
        if (root) throw located(src, ['parameters'], `parameter "${name}" given but not defined in the template`);
        continue; // Heat would reject the unknown property; it cannot change counts here
      }
      if (raw instanceof Unknown || raw instanceof ResourceRef) {
        params.set(name, raw);
        continue;
      }
      if (raw !== undefined && raw !== null) set(name, raw, ['parameters', name], callerLabel);
    }
    const dir = path.dirname(src.file);
    const id = `s${this.scopeSeq++}`;
    return {
      id,
      src,
      params,
      paramDefs,
      conditions: (t.conditions ?? {}) as Record<string, unknown>,
      stackName: this.stackName,
      stackId: this.stackId,
      getFile: (name) => {
        if (!this.input.readFile) return new Unknown(`get_file ${name}: no file reader`);
        try {
          return this.input.readFile(path.resolve(dir, name));
        } catch {
          return new Unknown(`get_file ${name}: file not found`);
        }
      },
    };
  }

  count(type: string, mult: Mult): void {
    const c = (this.resources[type] ??= { expected: 0, upper: 0 });
    c.expected += mult.expected;
    c.upper += mult.upper;
  }

  template(scope: Scope, mult: Mult, prefix: string, depth: number): void {
    const t = scope.src.value as Record<string, unknown>;
    const res = t.resources ?? t.Resources;
    if (res === undefined || res === null) return;
    if (typeof res !== 'object' || Array.isArray(res)) throw located(scope.src, ['resources'], 'resources must be a mapping');
    for (const [name, def] of Object.entries(res as Record<string, unknown>)) {
      const p: YamlPath = ['resources', name];
      if (!def || typeof def !== 'object' || Array.isArray(def)) throw located(scope.src, p, 'resource definition must be a mapping');
      const d = def as Record<string, unknown>;
      const cond = d.condition ?? d.Condition;
      if (cond !== undefined) {
        const c = evalCondition(cond, scope, [...p, 'condition']);
        if (c instanceof Unknown) this.warn(scope.src, [...p, 'condition'], `resources.${name}: condition not evaluated (${c.reason}); resource counted as present`);
        else if (!c) continue;
      }
      this.resource(scope, name, d, p, mult, prefix, depth);
    }
  }

  resource(scope: Scope, name: string, d: Record<string, unknown>, p: YamlPath, mult: Mult, prefix: string, depth: number): void {
    const src = scope.src;
    const typeVal = evaluate(d.type ?? d.Type, scope, [...p, 'type']);
    if (typeVal instanceof Unknown) throw located(src, [...p, 'type'], `resources.${name}: resource type cannot be determined: ${typeVal.reason}`);
    if (typeof typeVal !== 'string' || typeVal === '') throw located(src, [...p, 'type'], `resources.${name}: type must be a non-empty string`);
    let type = typeVal;
    const reg = this.input.environment?.resource_registry[type];
    let regFile: string | null = null;
    if (reg !== undefined) {
      if (FILE_TYPE.test(reg) || reg.includes('/')) regFile = path.resolve(this.input.environment!.baseDir, reg);
      else type = reg;
    }
    this.count(typeVal, mult);
    const key = prefix ? `${prefix}/${name}` : name;
    const where = `${src.file}:${src.lineOf(p)}`;
    const propsRaw = (d.properties ?? d.Properties ?? {}) as Record<string, unknown>;
    const pp: YamlPath = [...p, 'properties'];
    const prop = (k: string) => evaluate(propsRaw[k], scope, [...pp, k]);

    if (regFile || FILE_TYPE.test(type) || type.includes('/')) {
      const file = regFile ?? path.resolve(path.dirname(src.file), type);
      const props = evaluate(propsRaw, scope, pp) as Record<string, unknown>;
      this.nested(scope, file, props, [...p, 'type'], mult, key, depth);
      return;
    }
    switch (type) {
      case 'OS::Heat::ResourceGroup': {
        const n = this.intProp(scope, pp, 'count', prop('count'), 1, name, type);
        const rd = propsRaw.resource_def as Record<string, unknown> | undefined;
        if (!rd || typeof rd !== 'object') throw located(src, [...pp, 'resource_def'], `resources.${name}: ResourceGroup needs resource_def with a type`);
        const indexVar = typeof propsRaw.index_var === 'string' ? propsRaw.index_var : '%index%';
        const member = substitute(rd, indexVar, '0') as Record<string, unknown>;
        this.resource(scope, `${name}[]`, member, [...pp, 'resource_def'], { expected: mult.expected * n, upper: mult.upper * n }, key, depth);
        return;
      }
      case 'OS::Heat::AutoScalingGroup': {
        const min = this.intProp(scope, pp, 'min_size', prop('min_size'), null, name, type);
        const max = this.intProp(scope, pp, 'max_size', prop('max_size'), null, name, type);
        const desiredRaw = prop('desired_capacity');
        const desired = desiredRaw === undefined || desiredRaw === null ? min : this.intProp(scope, pp, 'desired_capacity', desiredRaw, null, name, type);
        this.checkSizes(scope, pp, name, min, desired, max, 'min_size', 'desired_capacity', 'max_size');
        const r = propsRaw.resource as Record<string, unknown> | undefined;
        if (!r || typeof r !== 'object') throw located(src, [...pp, 'resource'], `resources.${name}: AutoScalingGroup needs a resource definition`);
        this.resource(scope, `${name}[]`, r, [...pp, 'resource'], { expected: mult.expected * desired, upper: mult.upper * max }, key, depth);
        return;
      }
      case 'OS::Heat::InstanceGroup': {
        const size = this.intProp(scope, pp, 'Size', prop('Size'), null, name, type);
        this.launchConfig(scope, pp, name, prop('LaunchConfigurationName'), { expected: mult.expected * size, upper: mult.upper * size }, key);
        return;
      }
      case 'AWS::AutoScaling::AutoScalingGroup': {
        const min = this.intProp(scope, pp, 'MinSize', prop('MinSize'), null, name, type);
        const max = this.intProp(scope, pp, 'MaxSize', prop('MaxSize'), null, name, type);
        const dRaw = prop('DesiredCapacity');
        const desired = dRaw === undefined || dRaw === null ? min : this.intProp(scope, pp, 'DesiredCapacity', dRaw, null, name, type);
        this.checkSizes(scope, pp, name, min, desired, max, 'MinSize', 'DesiredCapacity', 'MaxSize');
        this.launchConfig(scope, pp, name, prop('LaunchConfigurationName'), { expected: mult.expected * desired, upper: mult.upper * max }, key);
        return;
      }
      case 'OS::Heat::Stack': {
        const tpl = prop('template');
        if (tpl instanceof Unknown) {
          this.warn(src, [...pp, 'template'], `resources.${name}: nested stack template not available (${tpl.reason}); its resources are not estimated`);
          return;
        }
        const nestedSrc = typeof tpl === 'string' ? this.parse(tpl, `${src.file}#${name}`) : null;
        const params = prop('parameters');
        const given = params && typeof params === 'object' && !(params instanceof Unknown) ? (params as Record<string, unknown>) : {};
        if (nestedSrc) {
          if (depth >= MAX_DEPTH) throw located(src, p, `nested templates deeper than ${MAX_DEPTH} levels (recursive?)`);
          const child = this.makeScope(nestedSrc, given, false, p, scope);
          this.template(child, mult, key, depth + 1);
        } else this.warn(src, [...pp, 'template'], `resources.${name}: inline nested template object not evaluated`);
        return;
      }
      case 'OS::Nova::Server':
      case 'AWS::EC2::Instance':
        this.server(scope, name, propsRaw, pp, mult, key, where, type === 'AWS::EC2::Instance');
        return;
      case 'OS::Cinder::Volume':
      case 'AWS::EC2::Volume': {
        const s = prop(type === 'AWS::EC2::Volume' ? 'Size' : 'size');
        let size: number | null = null;
        if (typeof s === 'number' || (typeof s === 'string' && s.trim() !== '' && Number.isFinite(Number(s)))) size = Number(s);
        else if (s !== undefined) this.warn(src, [...pp, 'size'], `resources.${name}: volume size unknown (${s instanceof Unknown ? s.reason : 'not a number'})`);
        this.units.push({ kind: 'volume', key, where, count: mult, size_gb: size });
        return;
      }
      case 'OS::Cinder::VolumeAttachment':
      case 'AWS::EC2::VolumeAttachment':
        this.attachments.push({ ref: prop(type === 'AWS::EC2::VolumeAttachment' ? 'InstanceId' : 'instance_uuid'), mult, where, key });
        return;
      case 'OS::Neutron::FloatingIP':
      case 'OS::Nova::FloatingIP':
      case 'AWS::EC2::EIP':
        this.units.push({ kind: 'floating_ip', key, where, count: mult });
        return;
      case 'OS::Neutron::Port':
        this.units.push({ kind: 'port', key, where, count: mult });
        return;
      case 'OS::Swift::Container':
      case 'AWS::S3::Bucket': {
        const n = prop('name');
        this.units.push({ kind: 'container', key, where, count: mult, name: typeof n === 'string' ? n : null });
        return;
      }
      case 'OS::Octavia::LoadBalancer':
      case 'OS::Neutron::LBaaS::LoadBalancer':
        this.units.push({ kind: 'loadbalancer', key, where, count: mult });
        return;
      case 'OS::Octavia::Listener':
      case 'OS::Neutron::LBaaS::Listener':
        this.units.push({ kind: 'listener', key, where, count: mult });
        return;
      case 'OS::Octavia::Pool':
      case 'OS::Neutron::LBaaS::Pool':
      case 'OS::Neutron::Pool':
        this.units.push({ kind: 'pool', key, where, count: mult });
        return;
      case 'OS::Octavia::PoolMember':
      case 'OS::Neutron::LBaaS::PoolMember':
      case 'OS::Neutron::PoolMember':
        this.units.push({ kind: 'member', key, where, count: mult });
        return;
      case 'OS::Octavia::HealthMonitor':
      case 'OS::Neutron::LBaaS::HealthMonitor':
      case 'OS::Neutron::HealthMonitor':
        this.units.push({ kind: 'health_monitor', key, where, count: mult });
        return;
      default:
        if (NO_METERS.has(type)) return;
        if (type in OUT_OF_MODEL) {
          this.warn(src, p, `resources.${name}: ${type} ${OUT_OF_MODEL[type]}; not estimated`);
          return;
        }
        this.warn(src, [...p, 'type'], `resources.${name}: unknown resource type ${type}; its meters are not estimated`);
    }
  }

  intProp(scope: Scope, pp: YamlPath, prop: string, v: unknown, dflt: number | null, name: string, type: string): number {
    const at = [...pp, prop];
    if (v === undefined || v === null) {
      if (dflt !== null) return dflt;
      throw located(scope.src, pp, `resources.${name}: ${type} needs ${prop}`);
    }
    if (v instanceof Unknown) throw located(scope.src, at, `resources.${name}: ${type} ${prop} cannot be determined: ${v.reason}`);
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < 0) throw located(scope.src, at, `resources.${name}: ${type} ${prop} must be a non-negative integer, got ${JSON.stringify(v)}`);
    return n;
  }

  checkSizes(scope: Scope, pp: YamlPath, name: string, min: number, desired: number, max: number, a: string, b: string, c: string): void {
    if (min > max) throw located(scope.src, [...pp, a], `resources.${name}: ${a} ${min} is greater than ${c} ${max}`);
    if (desired < min || desired > max) throw located(scope.src, [...pp, b], `resources.${name}: ${b} ${desired} is outside ${a}..${c} (${min}..${max})`);
  }

  launchConfig(scope: Scope, pp: YamlPath, name: string, ref: unknown, mult: Mult, key: string): void {
    const t = scope.src.value as Record<string, unknown>;
    const resources = (t.resources ?? t.Resources ?? {}) as Record<string, Record<string, unknown>>;
    const lcName = ref instanceof ResourceRef ? ref.name : typeof ref === 'string' ? ref : null;
    const lc = lcName ? resources[lcName] : undefined;
    if (!lcName || !lc) {
      throw located(scope.src, [...pp, 'LaunchConfigurationName'], `resources.${name}: LaunchConfigurationName must reference a launch configuration resource of this template`);
    }
    const lp: YamlPath = ['resources', lcName, 'properties'];
    const where = `${scope.src.file}:${scope.src.lineOf(['resources', lcName])}`;
    this.count('AWS::EC2::Instance', mult); // the group's members
    this.server(scope, lcName, (lc.properties ?? lc.Properties ?? {}) as Record<string, unknown>, lp, mult, `${key}/${lcName}`, where, true);
  }

  server(scope: Scope, name: string, props: Record<string, unknown>, pp: YamlPath, mult: Mult, key: string, where: string, aws: boolean): void {
    const src = scope.src;
    const ev = (k: string) => evaluate(props[k], scope, [...pp, k]);
    const flavorV = ev(aws ? 'InstanceType' : 'flavor');
    const flavor = typeof flavorV === 'string' ? flavorV : null;
    let flavorSpec: Flavor | null = null;
    if (flavor === null) {
      this.warn(src, [...pp, aws ? 'InstanceType' : 'flavor'], `resources.${name}: flavor unknown (${flavorV instanceof Unknown ? flavorV.reason : 'not given'}); instance size metadata uses defaults`);
    } else {
      flavorSpec = this.input.flavors[flavor] ?? null;
      if (!flavorSpec) this.warn(src, [...pp, 'flavor'], `resources.${name}: flavor "${flavor}" is not in the flavor table; vCPUs/RAM/disk unknown`);
    }
    const imageV = ev(aws ? 'ImageId' : 'image');
    const nameV = aws ? undefined : ev('name');
    // vNICs: one per networks entry; none given → Nova attaches one (auto-allocated or the only network)
    let vnics = 1;
    const nets = aws ? undefined : ev('networks');
    if (Array.isArray(nets)) vnics = Math.max(nets.length, 0);
    else if (nets === 'none') vnics = 0;
    else if (nets instanceof Unknown) this.warn(src, [...pp, 'networks'], `resources.${name}: networks unknown (${nets.reason}); assuming 1 vNIC`);
    if (aws) {
      const ni = ev('NetworkInterfaces');
      if (Array.isArray(ni) && ni.length > 0) vnics = ni.length;
    }
    // disks: vda (root, local or boot volume) + vdb when the flavor has an ephemeral disk + mapped block devices
    const disks = ['vda'];
    if (flavorSpec && flavorSpec.ephemeral_gb > 0) disks.push(devName(disks.length));
    for (const k of aws ? ['BlockDeviceMappings', 'Volumes'] : ['block_device_mapping', 'block_device_mapping_v2']) {
      const bdm = ev(k);
      if (bdm instanceof Unknown) this.warn(src, [...pp, k], `resources.${name}: ${k} unknown (${bdm.reason}); extra disks not counted`);
      if (!Array.isArray(bdm)) continue;
      for (const e of bdm) {
        const entry = (e ?? {}) as Record<string, unknown>;
        const isRoot = entry.boot_index === 0 || entry.boot_index === '0' || entry.device_name === 'vda' || entry.device_name === '/dev/vda';
        if (!isRoot) disks.push(devName(disks.length));
      }
    }
    const userMetadata: Record<string, string> = {};
    const md = aws ? undefined : ev('metadata');
    if (md && typeof md === 'object' && !Array.isArray(md) && !(md instanceof Unknown)) {
      for (const [k, v] of Object.entries(md as Record<string, unknown>)) {
        if (!k.startsWith('metering.')) continue;
        const val = v instanceof Unknown ? 'unknown' : typeof v === 'string' ? v : JSON.stringify(v);
        userMetadata[k.slice('metering.'.length).replace(/\./g, '_')] = val.slice(0, 256);
      }
    }
    const unit: ServerUnit = {
      kind: 'server', key, where, count: mult, flavor, flavorSpec,
      image: typeof imageV === 'string' ? imageV : null,
      name: typeof nameV === 'string' ? nameV : null,
      vnics, disks, attached: { expected: 0, upper: 0 }, userMetadata,
    };
    this.units.push(unit);
    this.servers.set(`${scope.id}/${name}`, unit);
  }

  nested(parent: Scope, file: string, props: Record<string, unknown>, at: YamlPath, mult: Mult, key: string, depth: number): void {
    if (depth >= MAX_DEPTH) throw located(parent.src, at, `nested templates deeper than ${MAX_DEPTH} levels (recursive?)`);
    if (!this.input.readFile) throw located(parent.src, at, `nested template ${path.basename(file)}: no file reader available`);
    let text: string;
    try {
      text = this.input.readFile(file);
    } catch (e) {
      throw located(parent.src, at, `nested template ${file} cannot be read: ${(e as Error).message}`);
    }
    const child = this.makeScope(this.parse(text, file), props, false, at, parent);
    this.template(child, mult, key, depth + 1);
  }

  resolveAttachments(): void {
    for (const a of this.attachments) {
      const srv = a.ref instanceof ResourceRef ? this.servers.get(`${a.ref.scopeId}/${a.ref.name}`) : undefined;
      if (!srv) {
        this.warnings.push(`${a.where}: volume attachment ${a.key}: server not resolvable in this stack; its disk device is not counted`);
        continue;
      }
      srv.attached.expected += a.mult.expected;
      srv.attached.upper += a.mult.upper;
    }
  }
}

function coerceSafe(name: string, def: ParamDef, v: unknown): unknown {
  try {
    return coerceParam(name, def, v);
  } catch {
    return v;
  }
}

const devName = (i: number) => `vd${String.fromCharCode(97 + i)}`;

function substitute(v: unknown, needle: string, repl: string): unknown {
  if (typeof v === 'string') return v.split(needle).join(repl);
  if (Array.isArray(v)) return v.map((x) => substitute(x, needle, repl));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, needle, repl)]));
  return v;
}

/** Analyse a template (and its nested templates) into counted resource units. Throws YamlValidationError, located. */
export function analyzeStack(input: AnalyzeInput): StackInventory {
  const stackName = input.stackName ?? (path.basename(input.template.file).replace(/\.[^.]+$/, '') || 'stack');
  const stackId = input.stackId ?? uuidFrom(`stack:${stackName}`);
  const a = new Analyzer(input, stackName, stackId);
  const root = a.makeScope(input.template, input.params ?? {}, true, null, null);
  a.template(root, { expected: 1, upper: 1 }, '', 0);
  a.resolveAttachments();
  return { stackName, stackId, units: a.units, resources: a.resources, warnings: a.warnings };
}

/** Parse a Heat environment file (parameters, parameter_defaults, resource_registry). */
export function environmentFromYaml(src: YamlSource): Environment {
  const v = (src.value ?? {}) as Record<string, unknown>;
  if (typeof v !== 'object' || Array.isArray(v)) throw located(src, [], 'environment must be a mapping');
  for (const k of Object.keys(v)) {
    if (!['parameters', 'parameter_defaults', 'resource_registry', 'encrypted_param_names', 'event_sinks', 'parameter_merge_strategies'].includes(k)) {
      throw new YamlValidationError([src.issue([k], 'unknown environment section')]);
    }
  }
  const reg: Record<string, string> = {};
  for (const [k, val] of Object.entries((v.resource_registry ?? {}) as Record<string, unknown>)) {
    if (typeof val === 'string') reg[k] = val;
  }
  return {
    parameters: (v.parameters ?? {}) as Record<string, unknown>,
    parameter_defaults: (v.parameter_defaults ?? {}) as Record<string, unknown>,
    resource_registry: reg,
    baseDir: path.dirname(src.file),
  };
}
