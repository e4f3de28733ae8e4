import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';
import pino from 'pino';
import { sshProvisionerConfig, type SshProvisionerConfig } from '../../scaler/config';
import { SshProvisioner, renderMemberCommand, shq } from '../../scaler/cluster/ssh';
import { startPrivateSshd, type PrivateSshd } from '../../services/sshd';
import { findJava } from '../../services/kafka';
import { MONGO_STANDIN_LIBS, MONGO_STANDIN_SOURCE } from '../../services/paths';
import { freePort, portOpen } from '../../services/proc';
import { mongoTier } from '../support/services';

/**
 * The SSH provisioner against a real OpenSSH server (Debian's sshd as a plain process on 127.0.0.1
 * with its own host key and a client key made now). The member it starts on the "VM" is the test
 * tier's MongoDB: the mongo-java-server stand-in here (a one-process MongoDB that cannot form a
 * replica set), a real mongod where MONGO_BIN_DIR has one (then the replica set is initiated too).
 */
let sshd: PrivateSshd;
const logLines: string[] = [];
const log = pino({ level: 'debug' }, new Writable({ write: (chunk, _e, cb) => (logLines.push(String(chunk)), cb()) }));
const VM = 'saas-vm-1';
let basePort: number;

function configFor(over: Partial<SshProvisionerConfig> = {}, memberCommand?: string): SshProvisionerConfig {
  const java = findJava();
  if (!java) throw new Error('java not found (needed for the stand-in member)');
  const standIn = `${shq(java)} -Xmx192m -XX:TieredStopAtLevel=1 -cp ${shq(path.join(MONGO_STANDIN_LIBS, '*'))} ${shq(MONGO_STANDIN_SOURCE)} {port} {bindIp}`;
  return sshProvisionerConfig.parse({
    hosts: [{ vm: VM, address: '127.0.0.1', port: sshd.port, user: sshd.user }],
    identityFile: sshd.identityFile,
    knownHostsFile: sshd.knownHostsFile,
    memberCommand: memberCommand ?? standIn,
    basePort,
    bindIp: '127.0.0.1',
    dataDir: path.join(sshd.dir, 'data'),
    stateFile: path.join(sshd.dir, 'members.json'),
    ...over,
  });
}

const made: SshProvisioner[] = [];
const provisioner = (cfg: SshProvisionerConfig) => {
  const p = new SshProvisioner({ config: cfg, log, cacheGB: 0.25, startTimeoutMs: 90_000 });
  made.push(p);
  return p;
};

beforeAll(async () => {
  sshd = await startPrivateSshd();
  basePort = await freePort();
}, 30_000);
afterAll(async () => {
  // a failed case must not leave a member running: stop whatever the state files still list
  for (const p of made) for (const name of ['sh7', 'sh8', 'shx']) await p.stopReplicaSet(name).catch(() => undefined);
  await sshd?.stop();
});

const standInJars = fs.existsSync(path.join(MONGO_STANDIN_LIBS, 'mongo-java-server-1.47.0.jar')) || (fs.existsSync(MONGO_STANDIN_LIBS) && fs.readdirSync(MONGO_STANDIN_LIBS).some((f) => f.startsWith('mongo-java-server')));
if (!standInJars) console.warn(`skipped: starting a member over ssh needs the stand-in jars in ${MONGO_STANDIN_LIBS} (node scripts/ensure.mjs fetches them when MONGODB_URI is unset; or set METERING_MONGO_STANDIN_LIBS)`);

describe('SSH provisioner against a real sshd', () => {
  it.runIf(standInJars)('starts a member on the named VM over ssh (host key verified), the member is a working MongoDB, and stops it', async () => {
    const p = provisioner(configFor());
    const m = await p.startMember(VM, 'sh7', 'shardsvr');
    expect(m).toMatchObject({ vm: VM, host: `127.0.0.1:${basePort}`, port: basePort });
    expect(await p.alive(m)).toBe(true);
    expect(p.members('sh7')).toEqual([m]);
    const client = await new MongoClient(`mongodb://${m.host}/?directConnection=true`, { serverSelectionTimeoutMS: 5000 }).connect();
    try {
      await client.db('ssh_member').collection('meter').insertOne({ counter_name: 'cpu', counter_volume: 3 });
      expect(await client.db('ssh_member').collection('meter').countDocuments({})).toBe(1);
    } finally {
      await client.close();
    }
    await p.stopMember(m, 5000);
    expect(await portOpen(basePort)).toBe(false);
    expect(p.members('sh7')).toEqual([]);
  }, 120_000);

  it('refuses a host whose key is not the one in knownHostsFile: nothing is started', async () => {
    const cfg = configFor({ knownHostsFile: sshd.wrongKnownHostsFile, stateFile: path.join(sshd.dir, 'wrong.json') });
    const p = provisioner(cfg);
    await expect(p.startMember(VM, 'sh8', 'shardsvr')).rejects.toThrow(/host key verification failed: the host's key is not the one in scaler.ssh.knownHostsFile; refusing to connect/);
    expect(fs.existsSync(cfg.stateFile)).toBe(false);
    expect(await portOpen(basePort)).toBe(false);
  });

  it('an unknown VM, a key the server does not accept, and an unknown placeholder fail with the reason', async () => {
    await expect(provisioner(configFor()).startMember('other-vm', 'sh8', 'shardsvr')).rejects.toThrow(/VM other-vm is not in scaler.ssh.hosts \(have saas-vm-1\)/);
    const stranger = path.join(sshd.dir, 'stranger_key');
    fs.copyFileSync(path.join(sshd.dir, 'other_host_key'), stranger);
    fs.chmodSync(stranger, 0o600);
    await expect(provisioner(configFor({ identityFile: stranger })).run(VM, 'true')).rejects.toThrow(/permission denied \(public key not accepted\)/);
    expect(() => renderMemberCommand('mongod --port {port} --x {nope}', { port: 1 })).toThrow(/unknown placeholder \{nope\}/);
  });

  it('credentials never reach the log or error messages: no key path, no known_hosts path, no key material', () => {
    const all = logLines.join('');
    if (standInJars) expect(all).toContain('member started over ssh');
    for (const secret of [sshd.identityFile, sshd.knownHostsFile, sshd.wrongKnownHostsFile, 'PRIVATE KEY', fs.readFileSync(`${sshd.identityFile}.pub`, 'utf8').split(' ')[1]!]) {
      expect(all).not.toContain(secret);
    }
  });

  it('the configuration requires a key and a known_hosts file once hosts are given', () => {
    const r = sshProvisionerConfig.safeParse({ hosts: [{ vm: 'a', address: '10.0.0.1' }] });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toMatch(/identityFile and knownHostsFile are required/);
  });

  const realBin = process.env.MONGO_BIN_DIR && fs.existsSync(path.join(process.env.MONGO_BIN_DIR, 'mongod'));
  if (!realBin) console.warn('skipped: SSH replica-set start (replSetInitiate) and addSecondary need a real mongod (set MONGO_BIN_DIR); the stand-in member above covers the SSH mechanics');
  it.runIf(realBin)('with a real mongod: starts a one-member replica set on the VM and adds a non-voting secondary', async () => {
    const mongod = path.join(process.env.MONGO_BIN_DIR!, 'mongod');
    const p = provisioner(configFor({ stateFile: path.join(sshd.dir, 'real.json') }, `${shq(mongod)} --replSet {replSet} --{role} --port {port} --bind_ip {bindIp} --dbpath {dbpath} --wiredTigerCacheSizeGB {cacheGB}`));
    const rs = await p.startReplicaSet({ name: 'shx', role: 'shardsvr', vm: VM });
    expect(rs.hosts).toHaveLength(1);
    const grown = await p.addSecondary('shx', VM, { voting: false });
    expect(grown.hosts).toHaveLength(2);
    await p.stopReplicaSet('shx');
    expect(p.members('shx')).toEqual([]);
  }, 300_000);
  void mongoTier;
});
