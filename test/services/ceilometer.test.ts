import { describe, expect, it } from 'vitest';
import { runCeilometerPython } from '../../services/ceilometer';

// The interop tests' client is Ceilometer's own code from PyPI: this checks that the virtualenv
// ensure.mjs builds is the pinned release and that its Sample and signing are importable.
describe('Ceilometer virtualenv (interop client)', () => {
  it('runs the pinned Ceilometer release with its publishers and signing', async () => {
    const result = await runCeilometerPython(
      [
        'import json, importlib.metadata as md',
        'from ceilometer import sample',
        'from ceilometer.publisher import utils',
        's = sample.Sample(name="cpu", type="cumulative", unit="ns", volume=1234567890123, user_id="u", project_id="p", resource_id="r", timestamp="2026-01-01T00:00:00", resource_metadata={"flavor": {"vcpus": 2}})',
        'msg = utils.meter_message_from_counter(s, "secret")',
        'print(json.dumps({"version": md.version("ceilometer"), "verified": utils.verify_signature(msg, "secret"), "forged": utils.verify_signature(dict(msg, counter_volume=1), "secret")}))',
      ].join('\n'),
    );
    expect(result.stderr.split('\n').filter((l) => /Error|Traceback/.test(l))).toEqual([]);
    expect(JSON.parse(result.stdout.trim())).toEqual({ version: '27.0.0', verified: true, forged: false });
  });
});
