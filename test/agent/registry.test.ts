import { describe, expect, it } from 'vitest';
import { thin, type HeartbeatMessage } from '../../agent/protocol';
import { AgentRegistry } from '../../agent/registry';
import { renderTop, sparkline } from '../../agent/top';

const hb = (host: string, ids: string[], over: Partial<HeartbeatMessage> = {}): HeartbeatMessage => ({ kind: 'heartbeat', host, instance: 'i1', interval_s: 10, resources: ids.map((id) => ({ id, project_id: id.startsWith('vm') ? 'p1' : null, meters: ['cpu_util'] })), ...over });

describe('agent registry', () => {
  it('routes a resource to the host that last heartbeated it; a heartbeat replaces the host\'s resource list', () => {
    const r = new AgentRegistry(3);
    r.heartbeat(hb('a', ['a', 'vm-1']), 0);
    r.heartbeat(hb('b', ['b']), 0);
    expect(r.locate('vm-1')).toEqual({ host: 'a', project_id: 'p1', meters: ['cpu_util'] });
    // the VM migrated to b
    r.heartbeat(hb('b', ['b', 'vm-1']), 1000);
    r.heartbeat(hb('a', ['a']), 2000);
    expect(r.locate('vm-1')?.host).toBe('b');
    expect(r.resourceCount).toBe(3);
    expect(r.locate('nope')).toBeUndefined();
  });

  it('a host is alive for `missed` heartbeat periods, leaves at once when it says so, and is forgotten after long silence', () => {
    const r = new AgentRegistry(3, 60_000);
    r.heartbeat(hb('a', ['a']), 0);
    expect(r.alive('a', 30_000)).toBe(true);
    expect(r.alive('a', 30_001)).toBe(false);
    expect(r.locate('a')?.host).toBe('a'); // still known: requests answer 504 naming it
    expect(r.expire(60_001)).toBe(1);
    expect(r.locate('a')).toBeUndefined();
    r.heartbeat(hb('c', ['c']), 0);
    r.heartbeat(hb('c', [], { leaving: true }), 1);
    expect(r.host('c')).toBeUndefined();
    expect(r.locate('c')).toBeUndefined();
  });

  it('a restarted agent (new instance) is registered afresh; the same instance keeps its registration time', () => {
    const r = new AgentRegistry(3);
    r.heartbeat(hb('a', ['a']), 100);
    r.heartbeat(hb('a', ['a']), 200);
    expect(r.host('a')!.registeredAt).toBe(100);
    r.heartbeat(hb('a', ['a'], { instance: 'i2' }), 300);
    expect(r.host('a')!.registeredAt).toBe(300);
  });
});

describe('thinning and the terminal view', () => {
  it('thin keeps at most max points, evenly spaced, always the last', () => {
    const xs = Array.from({ length: 1001 }, (_, i) => i);
    const t = thin(xs, 100);
    expect(t.length).toBeLessThanOrEqual(100);
    expect(t.at(-1)).toBe(1000);
    expect(t[0]).toBe(0);
    expect(thin([1, 2, 3], 5)).toEqual([1, 2, 3]);
    expect(thin([1, 2, 3], 1)).toEqual([3]);
  });

  it('sparklines scale to the series; renderTop lists every host with its statistics or its error', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([5, 5, 5])).toBe('▁▁▁');
    expect(sparkline([1, 2, 3, 4], 2)).toBe('▁█');
    const out = renderTop('hardware.cpu.util', [
      { host: 'a', status: 'ok', points: [{ t: 'x', v: 10 }, { t: 'y', v: 30 }] },
      { host: 'gone', status: 'timeout', points: [], error: 'agent on host gone did not answer within 3000 ms' },
    ]);
    const lines = out.trim().split('\n');
    expect(lines[1]).toMatch(/^host\s+status\s+points\s+last\s+min\s+avg\s+max\s+trend$/);
    expect(lines[2]).toMatch(/^a\s+ok\s+2\s+30\.00\s+10\.00\s+20\.00\s+30\.00\s+▁█$/);
    expect(lines[3]).toContain('did not answer within 3000 ms');
  });
});
