import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Document } from 'mongodb';
import type { Logger } from 'pino';
import type { SshHostConfig, SshProvisionerConfig } from '../config';
import { withDirect } from './local';
import type { Provisioner, ReplicaSetHandle, ReplicaSetSpec } from './provisioner';

/**
 * Starts metering-store replica-set members on the provider's SaaS VMs over SSH, with the system
 * `ssh` client (Debian openssh-client): public-key login from `identityFile`, host keys checked
 * against `knownHostsFile` (`StrictHostKeyChecking=yes`: an unknown or changed key refuses the
 * connection), `BatchMode=yes` (never a password prompt). Commands, paths of credentials and ssh's
 * own output are kept out of the log; the log names the VM, user, port and what was started.
 */

/** POSIX shell single-quoting. */
export const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The member command with its placeholders filled in, every value shell-quoted; unknown placeholders are an error. */
export function renderMemberCommand(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{([a-zA-Z]+)\}/g, (_, k: string) => {
    if (!(k in vars)) throw new Error(`scaler.ssh.memberCommand: unknown placeholder {${k}} (known: ${Object.keys(vars).map((v) => `{${v}}`).join(', ')})`);
    return shq(String(vars[k]));
  });
}

/** Remote script: make the data directory, start the member detached under nohup, print its pid. */
export function startScript(command: string, dbpath: string): string {
  return `mkdir -p ${shq(dbpath)} && cd ${shq(dbpath)} && (nohup ${command} > ${shq(path.posix.join(dbpath, 'member.log'))} 2>&1 < /dev/null & echo $!)`;
}

/** Arguments of the ssh client for one remote command. */
export function sshArgs(host: SshHostConfig, cfg: Pick<SshProvisionerConfig, 'identityFile' | 'knownHostsFile' | 'connectTimeoutSec'>, remote: string): string[] {
  if (!cfg.identityFile || !cfg.knownHostsFile) throw new Error('scaler.ssh: identityFile and knownHostsFile are required');
  return [
    '-p', String(host.port),
    '-i', cfg.identityFile,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${cfg.knownHostsFile}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'UpdateHostKeys=no',
    '-o', `ConnectTimeout=${cfg.connectTimeoutSec}`,
    '-o', 'LogLevel=ERROR',
    '-F', '/dev/null',
    '-l', host.user,
    host.address,
    '--',
    remote,
  ];
}

export class SshCommandError extends Error {}

/** Turn ssh's stderr into a short reason without echoing paths of credentials. */
export function sshFailure(host: SshHostConfig, code: number | null, stderr: string, cfg: Pick<SshProvisionerConfig, 'identityFile' | 'knownHostsFile'>): string {
  let e = stderr;
  for (const secret of [cfg.identityFile, cfg.knownHostsFile]) if (secret) e = e.split(secret).join('<redacted>');
  const where = `ssh ${host.user}@${host.address}:${host.port} (vm ${host.vm})`;
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/i.test(e)) return `${where}: host key verification failed: the host's key is not the one in scaler.ssh.knownHostsFile; refusing to connect`;
  if (/Permission denied/i.test(e)) return `${where}: permission denied (public key not accepted)`;
  if (/Connection refused|timed out|No route to host|Could not resolve/i.test(e)) return `${where}: cannot connect (${e.trim().split('\n').pop()})`;
  return `${where}: exit code ${code}${e.trim() ? `: ${e.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
}

export interface MemberRecord {
  vm: string;
  host: string;
  port: number;
  pid: number;
  dbpath: string;
}

interface SshState {
  replicaSets: Record<string, { role: 'configsvr' | 'shardsvr'; members: MemberRecord[] }>;
}

export interface SshProvisionerOptions {
  config: SshProvisionerConfig;
  log: Logger;
  cacheGB: number;
  startTimeoutMs: number;
  initialSyncTimeoutMs?: number;
  /** Checks a started member answers (default: ping over a direct MongoDB connection). */
  ping?: (host: string) => Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class SshProvisioner implements Provisioner {
  readonly placesOnVms = true;
  private readonly hosts: Map<string, SshHostConfig>;

  constructor(private readonly o: SshProvisionerOptions) {
    this.hosts = new Map(o.config.hosts.map((h) => [h.vm, h]));
    if (this.hosts.size === 0) throw new Error('scaler.ssh.hosts is empty: no VM to place members on');
  }

  /** The VMs members may be placed on (names as the profiler knows them). */
  get vms(): string[] {
    return [...this.hosts.keys()];
  }

  private host(vm: string | undefined): SshHostConfig {
    if (!vm) throw new Error('the SSH provisioner needs a VM (the placement picked none)');
    const h = this.hosts.get(vm);
    if (!h) throw new Error(`VM ${vm} is not in scaler.ssh.hosts (have ${this.vms.join(', ')})`);
    return h;
  }

  /** Run one remote command; resolves with its stdout. */
  run(vm: string, remote: string, timeoutMs = 60_000): Promise<string> {
    const host = this.host(vm);
    const cfg = this.o.config;
    const args = sshArgs(host, cfg, remote);
    return new Promise((resolve, reject) => {
      const child = spawn(cfg.sshCommand, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new SshCommandError(`ssh client ${cfg.sshCommand}: ${e.message}`));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(out);
        else reject(new SshCommandError(sshFailure(host, code, err, cfg)));
      });
    });
  }

  private state(): SshState {
    try {
      return JSON.parse(fs.readFileSync(this.o.config.stateFile, 'utf8')) as SshState;
    } catch {
      return { replicaSets: {} };
    }
  }

  private save(s: SshState): void {
    fs.mkdirSync(path.dirname(this.o.config.stateFile), { recursive: true });
    const tmp = `${this.o.config.stateFile}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(s, null, 2));
    fs.renameSync(tmp, this.o.config.stateFile);
  }

  private nextPort(vm: string, s: SshState): number {
    const used = new Set(Object.values(s.replicaSets).flatMap((rs) => rs.members.filter((m) => m.vm === vm).map((m) => m.port)));
    let p = this.o.config.basePort;
    while (used.has(p)) p++;
    return p;
  }

  private async ping(host: string): Promise<void> {
    if (this.o.ping) return this.o.ping(host);
    await withDirect(host, (admin) => admin.command({ ping: 1 }));
  }

  /**
   * Start one member process on `vm` over SSH and wait until it answers at address:port. Recorded in
   * the state file before waiting, so a member that never comes up can still be stopped.
   */
  async startMember(vm: string, replSet: string, role: 'configsvr' | 'shardsvr'): Promise<MemberRecord> {
    const host = this.host(vm);
    const s = this.state();
    const port = this.nextPort(vm, s);
    const dbpath = path.posix.join(this.o.config.dataDir, `${replSet}-${port}`);
    const command = renderMemberCommand(this.o.config.memberCommand, { replSet, role, port, bindIp: this.o.config.bindIp, dbpath, cacheGB: this.o.cacheGB });
    const out = await this.run(vm, startScript(command, dbpath));
    const pid = Number(out.trim().split('\n').pop());
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`vm ${vm}: the start command printed no pid`);
    const member: MemberRecord = { vm, host: `${host.address}:${port}`, port, pid, dbpath };
    const rs = (s.replicaSets[replSet] ??= { role, members: [] });
    rs.members.push(member);
    this.save(s);
    this.o.log.info({ vm, user: host.user, sshPort: host.port, replSet, member: member.host, pid }, 'member started over ssh');
    const deadline = Date.now() + this.o.startTimeoutMs;
    for (;;) {
      try {
        await this.ping(member.host);
        return member;
      } catch (err) {
        if (!(await this.alive(member))) throw new Error(`member ${member.host} on vm ${vm} exited during start-up (log on the VM: ${member.dbpath}/member.log)`);
        if (Date.now() > deadline) throw new Error(`member ${member.host} on vm ${vm} did not answer within ${this.o.startTimeoutMs / 1000} s: ${(err as Error).message}`);
        await sleep(500);
      }
    }
  }

  /** Whether the member's process still runs on its VM. */
  async alive(m: MemberRecord): Promise<boolean> {
    const out = await this.run(m.vm, `if kill -0 ${m.pid} 2>/dev/null; then echo alive; else echo gone; fi`);
    return out.trim() === 'alive';
  }

  /** SIGTERM the member on its VM (SIGKILL after `graceMs`), then forget it. */
  async stopMember(m: MemberRecord, graceMs = 20_000): Promise<void> {
    const steps = Math.ceil(graceMs / 200);
    await this.run(
      m.vm,
      `kill ${m.pid} 2>/dev/null; i=0; while kill -0 ${m.pid} 2>/dev/null && [ $i -lt ${steps} ]; do sleep 0.2; i=$((i+1)); done; kill -9 ${m.pid} 2>/dev/null; true`,
      graceMs + 30_000,
    );
    const s = this.state();
    for (const [name, rs] of Object.entries(s.replicaSets)) {
      rs.members = rs.members.filter((x) => !(x.vm === m.vm && x.pid === m.pid));
      if (rs.members.length === 0) delete s.replicaSets[name];
    }
    this.save(s);
    this.o.log.info({ vm: m.vm, member: m.host, pid: m.pid }, 'member stopped over ssh');
  }

  vmsOf(replSet: string): string[] {
    return this.members(replSet).map((m) => m.vm);
  }

  members(replSet: string): MemberRecord[] {
    return [...(this.state().replicaSets[replSet]?.members ?? [])];
  }

  async startReplicaSet(spec: ReplicaSetSpec): Promise<ReplicaSetHandle> {
    if (this.state().replicaSets[spec.name]) throw new Error(`replica set ${spec.name} already exists`);
    const m = await this.startMember(this.host(spec.vm).vm, spec.name, spec.role);
    const config: Document = { _id: spec.name, members: [{ _id: 0, host: m.host }] };
    if (spec.role === 'configsvr') config.configsvr = true;
    await withDirect(m.host, (admin) => admin.command({ replSetInitiate: config }));
    await this.waitFor(m.host, (h) => h.isWritablePrimary === true, this.o.startTimeoutMs, 'primary');
    return { name: spec.name, hosts: [m.host] };
  }

  async addSecondary(name: string, vm?: string, opts: { voting?: boolean } = {}): Promise<ReplicaSetHandle> {
    const rs = this.state().replicaSets[name];
    if (!rs) throw new Error(`unknown replica set ${name} (not started by the SSH provisioner)`);
    const m = await this.startMember(this.host(vm).vm, name, rs.role);
    const hosts = [...rs.members.map((x) => x.host), m.host];
    const seed = rs.members[0]!.host;
    const primary = ((await withDirect(seed, (a) => a.command({ hello: 1 }))).primary as string | undefined) ?? seed;
    await withDirect(primary, async (admin) => {
      const { config } = await admin.command({ replSetGetConfig: 1 });
      const nextId = Math.max(...(config.members as Document[]).map((x) => Number(x._id))) + 1;
      config.members.push({ _id: nextId, host: m.host, ...(opts.voting === false ? { votes: 0, priority: 0 } : {}) });
      config.version = Number(config.version) + 1;
      await admin.command({ replSetReconfig: config });
    });
    await this.waitFor(m.host, (h) => h.secondary === true, this.o.initialSyncTimeoutMs ?? 30 * 60_000, 'secondary');
    return { name, hosts };
  }

  async stopReplicaSet(name: string): Promise<void> {
    for (const m of this.members(name).reverse()) await this.stopMember(m);
  }

  private async waitFor(host: string, ok: (hello: Document) => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hello = await withDirect(host, (a) => a.command({ hello: 1 })).catch(() => undefined);
      if (hello && ok(hello)) return;
      if (Date.now() > deadline) throw new Error(`${host} did not become ${what} within ${timeoutMs / 1000} s`);
      await sleep(500);
    }
  }
}
