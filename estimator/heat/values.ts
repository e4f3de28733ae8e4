import { YamlValidationError, type YamlPath, type YamlSource } from '../../config/yaml-source';

/**
 * Static evaluation of HOT intrinsic functions — only as far as a data-size estimate needs:
 * parameters, conditions and string assembly. Anything that only exists at deploy time
 * (get_attr, random strings, …) evaluates to an `Unknown` that says why.
 */

/** A value that cannot be known before the stack exists. */
export class Unknown {
  constructor(readonly reason: string) {}
}
/** `get_resource: name` in the template scope it was written in. */
export class ResourceRef {
  constructor(readonly scopeId: string, readonly name: string) {}
}

export interface ParamDef {
  type: string;
  default?: unknown;
  constraints?: unknown[];
}

/** One template being evaluated (the root template, or one nested template). */
export interface Scope {
  id: string;
  src: YamlSource;
  /** Parameter values after defaults and caller values; absent = no value. */
  params: Map<string, unknown>;
  paramDefs: Record<string, ParamDef>;
  conditions: Record<string, unknown>;
  stackName: string;
  stackId: string;
  /** Pre-resolved text of files (get_file), relative to this template. */
  getFile: (name: string) => string | Unknown;
}

export const located = (src: YamlSource, path: YamlPath, message: string) => new YamlValidationError([src.issue(path, message)]);

const isFn = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1;

/** Evaluate a property value; `path` is its location in the template (for errors). */
export function evaluate(value: unknown, scope: Scope, path: YamlPath): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Unknown || value instanceof ResourceRef) return value;
  if (Array.isArray(value)) return value.map((v, i) => evaluate(v, scope, [...path, i]));
  if (isFn(value)) {
    const [fn, arg] = Object.entries(value)[0]!;
    const at = [...path, fn];
    switch (fn) {
      case 'get_param':
      case 'Ref':
        return getParam(arg, scope, at);
      case 'get_resource':
        return typeof arg === 'string' ? new ResourceRef(scope.id, arg) : new Unknown('get_resource with a computed name');
      case 'get_attr':
      case 'Fn::GetAtt':
        return new Unknown(`get_attr ${JSON.stringify(arg)} is only known after deployment`);
      case 'get_file': {
        const name = evaluate(arg, scope, at);
        return typeof name === 'string' ? scope.getFile(name) : new Unknown('get_file with a computed name');
      }
      case 'str_replace':
      case 'str_replace_strict':
      case 'str_replace_vstrict':
        return strReplace(evaluate(arg, scope, at));
      case 'list_join':
      case 'Fn::Join':
        return listJoin(evaluate(arg, scope, at));
      case 'if': {
        if (!Array.isArray(arg) || arg.length !== 3) throw located(scope.src, at, 'if needs [condition, value_if_true, value_if_false]');
        const c = evalCondition(arg[0], scope, [...at, 0]);
        if (c instanceof Unknown) return c;
        return c ? evaluate(arg[1], scope, [...at, 1]) : evaluate(arg[2], scope, [...at, 2]);
      }
      default:
        if (KNOWN_FUNCTIONS.has(fn)) return new Unknown(`${fn} is not evaluated by the estimator`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = evaluate(v, scope, [...path, k]);
  return out;
}

const KNOWN_FUNCTIONS = new Set([
  'map_merge', 'map_replace', 'repeat', 'yaql', 'digest', 'str_split', 'resource_facade', 'filter', 'list_concat',
  'list_concat_unique', 'make_url', 'contains', 'equals', 'not', 'and', 'or', 'Fn::Select', 'Fn::Split', 'Fn::Replace',
  'Fn::Base64', 'Fn::GetAZs', 'Fn::MemberListToMap', 'Fn::ResourceFacade',
]);

function getParam(arg: unknown, scope: Scope, at: YamlPath): unknown {
  const parts = Array.isArray(arg) ? arg.map((a, i) => evaluate(a, scope, [...at, i])) : [evaluate(arg, scope, at)];
  const name = parts[0];
  if (typeof name !== 'string') return name instanceof Unknown ? name : new Unknown('get_param with a computed name');
  let v: unknown;
  if (name === 'OS::stack_id') v = scope.stackId;
  else if (name === 'OS::stack_name') v = scope.stackName;
  else if (name === 'OS::project_id') v = 'project';
  else if (name === 'AWS::StackName') v = scope.stackName;
  else if (name === 'AWS::StackId') v = scope.stackId;
  else if (name === 'AWS::Region') v = 'RegionOne';
  else if (!(name in scope.paramDefs)) throw located(scope.src, at, `get_param: parameter "${name}" is not defined in parameters`);
  else if (!scope.params.has(name)) return new Unknown(`parameter "${name}" has no default and no value was given (use --param ${name}=…)`);
  else v = scope.params.get(name);
  for (const key of parts.slice(1)) {
    if (v instanceof Unknown || key instanceof Unknown) return v instanceof Unknown ? v : key;
    if (Array.isArray(v)) v = v[Number(key)];
    else if (v && typeof v === 'object') v = (v as Record<string, unknown>)[String(key)];
    else return new Unknown(`get_param path ${JSON.stringify(parts)} does not exist`);
    if (v === undefined) return new Unknown(`get_param path ${JSON.stringify(parts)} does not exist`);
  }
  return v;
}

function strReplace(arg: unknown): unknown {
  if (!arg || typeof arg !== 'object' || Array.isArray(arg)) return new Unknown('malformed str_replace');
  const { template, params } = arg as { template?: unknown; params?: unknown };
  if (typeof template !== 'string') return template instanceof Unknown ? template : new Unknown('str_replace template is not a string');
  if (!params || typeof params !== 'object') return template;
  let out = template;
  for (const [k, v] of Object.entries(params as Record<string, unknown>)) {
    if (v instanceof Unknown) return v;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return new Unknown('str_replace with a non-scalar value');
    out = out.split(k).join(String(v));
  }
  return out;
}

function listJoin(arg: unknown): unknown {
  if (!Array.isArray(arg) || arg.length < 1) return new Unknown('malformed list_join');
  const [delim, ...lists] = arg;
  if (typeof delim !== 'string') return new Unknown('list_join delimiter is not a string');
  const items: unknown[] = [];
  for (const l of lists) {
    if (l instanceof Unknown) return l;
    if (!Array.isArray(l)) return new Unknown('list_join of a non-list');
    items.push(...l);
  }
  if (items.some((x) => x instanceof Unknown || (x !== null && typeof x === 'object'))) return new Unknown('list_join of non-scalar items');
  return items.map(String).join(delim);
}

/** Evaluate a condition: a boolean, a condition name, or equals/not/and/or/contains. */
export function evalCondition(expr: unknown, scope: Scope, path: YamlPath, seen: Set<string> = new Set()): boolean | Unknown {
  if (typeof expr === 'boolean') return expr;
  if (typeof expr === 'string') {
    if (expr === 'true' || expr === 'false') return expr === 'true';
    if (!(expr in scope.conditions)) throw located(scope.src, path, `unknown condition "${expr}" (not in the conditions section)`);
    if (seen.has(expr)) throw located(scope.src, ['conditions', expr], `condition "${expr}" refers to itself`);
    return evalCondition(scope.conditions[expr], scope, ['conditions', expr], new Set([...seen, expr]));
  }
  if (isFn(expr)) {
    const [fn, arg] = Object.entries(expr)[0]!;
    const at = [...path, fn];
    const list = (n?: number): unknown[] => {
      if (!Array.isArray(arg) || (n !== undefined && arg.length !== n)) throw located(scope.src, at, `${fn} needs a list${n ? ` of ${n} items` : ''}`);
      return arg;
    };
    switch (fn) {
      case 'equals': {
        const [a, b] = list(2).map((x, i) => evaluate(x, scope, [...at, i]));
        if (a instanceof Unknown) return a;
        if (b instanceof Unknown) return b;
        return JSON.stringify(a) === JSON.stringify(b);
      }
      case 'not': {
        const v = evalCondition(arg, scope, at, seen);
        return v instanceof Unknown ? v : !v;
      }
      case 'and':
      case 'or': {
        const vals = list().map((x, i) => evalCondition(x, scope, [...at, i], seen));
        const known = vals.filter((v): v is boolean => typeof v === 'boolean');
        if (fn === 'and' && known.includes(false)) return false;
        if (fn === 'or' && known.includes(true)) return true;
        const unk = vals.find((v) => v instanceof Unknown);
        return unk ?? fn === 'and';
      }
      case 'contains': {
        const [needle, hay] = list(2).map((x, i) => evaluate(x, scope, [...at, i]));
        if (needle instanceof Unknown) return needle;
        if (hay instanceof Unknown) return hay;
        if (!Array.isArray(hay)) throw located(scope.src, at, 'contains needs a list as its second argument');
        return hay.some((h) => JSON.stringify(h) === JSON.stringify(needle));
      }
      default:
        return new Unknown(`condition function ${fn} is not evaluated by the estimator`);
    }
  }
  return new Unknown(`condition ${JSON.stringify(expr)} is not understood`);
}

const TRUE = new Set(['true', 't', 'yes', 'y', 'on', '1']);
const FALSE = new Set(['false', 'f', 'no', 'n', 'off', '0']);

/** Type a parameter value per its declared `type` (caller values arrive as strings from the CLI). */
export function coerceParam(name: string, def: ParamDef, raw: unknown): unknown {
  const bad = (why: string) => new Error(`parameter "${name}" (type ${def.type}): ${why}`);
  switch (def.type) {
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) throw bad(`${JSON.stringify(raw)} is not a number`);
      return n;
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      const s = String(raw).toLowerCase();
      if (TRUE.has(s)) return true;
      if (FALSE.has(s)) return false;
      throw bad(`${JSON.stringify(raw)} is not a boolean`);
    }
    case 'comma_delimited_list':
      if (Array.isArray(raw)) return raw;
      return String(raw) === '' ? [] : String(raw).split(',').map((s) => s.trim());
    case 'json':
      if (typeof raw !== 'string') return raw;
      try {
        return JSON.parse(raw);
      } catch {
        throw bad(`${JSON.stringify(raw)} is not valid JSON`);
      }
    case 'string':
      if (raw !== null && typeof raw === 'object') throw bad('expected a string');
      return String(raw);
    default:
      return raw;
  }
}

/** Check `range`, `length` and `allowed_values` constraints (others are left to Heat). */
export function checkConstraints(name: string, def: ParamDef, v: unknown): void {
  for (const c of def.constraints ?? []) {
    if (!c || typeof c !== 'object') continue;
    const cc = c as { range?: { min?: number; max?: number }; length?: { min?: number; max?: number }; allowed_values?: unknown[] };
    const fail = (why: string) => {
      throw new Error(`parameter "${name}" = ${JSON.stringify(v)} ${why}`);
    };
    if (cc.range && typeof v === 'number') {
      if (cc.range.min !== undefined && v < cc.range.min) fail(`is below the minimum ${cc.range.min}`);
      if (cc.range.max !== undefined && v > cc.range.max) fail(`is above the maximum ${cc.range.max}`);
    }
    if (cc.length && (typeof v === 'string' || Array.isArray(v))) {
      if (cc.length.min !== undefined && v.length < cc.length.min) fail(`is shorter than ${cc.length.min}`);
      if (cc.length.max !== undefined && v.length > cc.length.max) fail(`is longer than ${cc.length.max}`);
    }
    if (cc.allowed_values && !cc.allowed_values.some((a) => JSON.stringify(a) === JSON.stringify(v) || String(a) === String(v))) {
      fail(`is not one of ${cc.allowed_values.map((a) => JSON.stringify(a)).join(', ')}`);
    }
  }
}
