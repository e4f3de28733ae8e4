import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOST, STATE_DIR } from './paths';
import { findExecutable, freePort, portOpen, waitUntil } from './proc';

/**
 * A private OpenSSH server for tests of the SSH provisioner: Debian's `sshd` (openssh-server,
 * installed by scripts/ensure.mjs) run as a plain foreground process on 127.0.0.1 and a free port,
 * with its own host key, one authorized client key generated now, and a known_hosts file holding
 * exactly its host key. It never touches the system sshd or its configuration.
 */
export interface PrivateSshd {
  port: number;
  dir: string;
  user: string;
  /** Client private key (0600) whose public half is the only authorized key. */
  identityFile: string;
  /** known_hosts line for [127.0.0.1]:port with this server's host key. */
  knownHostsFile: string;
  /** A known_hosts file with a different key for the same address (to test refusal). */
  wrongKnownHostsFile: string;
  stop(): Promise<void>;
}

export function findSshd(): string | undefined {
  return findExecutable('sshd', ['/usr/sbin', '/usr/local/sbin']);
}

function keygen(file: string): string {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'metering-test', '-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr || r.error?.message}`);
  return fs.readFileSync(`${file}.pub`, 'utf8').trim();
}

export async function startPrivateSshd(): Promise<PrivateSshd> {
  const sshd = findSshd();
  if (!sshd) throw new Error('sshd not found: apt-get install openssh-server (node scripts/ensure.mjs does)');
  fs.mkdirSync(STATE_DIR, { recursive: true });
  const dir = fs.mkdtempSync(path.join(STATE_DIR, 'sshd-'));
  // sshd running as root insists on its compiled-in privilege-separation directory
  if (process.getuid?.() === 0) fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  const hostPub = keygen(hostKey);
  const identityFile = path.join(dir, 'id_ed25519');
  fs.writeFileSync(path.join(dir, 'authorized_keys'), keygen(identityFile) + '\n', { mode: 0o600 });
  const otherPub = keygen(path.join(dir, 'other_host_key'));
  const port = await freePort();
  const user = os.userInfo().username;
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(
    config,
    [
      `Port ${port}`,
      `ListenAddress ${HOST}`,
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${user}`,
      'X11Forwarding no',
      'AllowTcpForwarding no',
      'PrintMotd no',
      '',
    ].join('\n'),
  );
  const [type, key] = hostPub.split(' ');
  const knownHostsFile = path.join(dir, 'known_hosts');
  fs.writeFileSync(knownHostsFile, `[${HOST}]:${port} ${type} ${key}\n`);
  const wrongKnownHostsFile = path.join(dir, 'known_hosts.wrong');
  fs.writeFileSync(wrongKnownHostsFile, `[${HOST}]:${port} ${otherPub.split(' ').slice(0, 2).join(' ')}\n`);
  const log = fs.openSync(path.join(dir, 'sshd.log'), 'w');
  const child: ChildProcess = spawn(sshd, ['-D', '-e', '-f', config], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited: string | undefined;
  child.on('exit', (code) => (exited = `sshd exited with code ${code}: ${fs.readFileSync(path.join(dir, 'sshd.log'), 'utf8').trim()}`));
  await waitUntil(`sshd on ${HOST}:${port}`, async () => ((await portOpen(port)) ? true : undefined), 15_000, () => exited);
  return {
    port,
    dir,
    user,
    identityFile,
    knownHostsFile,
    wrongKnownHostsFile,
    stop: async () => {
      if (exited === undefined) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await done;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
