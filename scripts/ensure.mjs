#!/usr/bin/env node
// Make a checkout ready to run: npm packages, redis-server, rabbitmq-server, openssh-server, the Kafka + MongoDB stand-in jars, and
// Ceilometer from PyPI in a cached virtualenv (the real client of the interop tests).
// Plain Node with no npm dependencies: it runs as `pretest` / `prestart` before node_modules may exist.
// Idempotent; when everything is present it only looks at a few files (well under 2 s).
//
//   node scripts/ensure.mjs            do what is missing
//   node scripts/ensure.mjs --check    only report what is missing (exit 1 if anything is)
//
// Environment: REDIS_URL / KAFKA_BROKERS / MONGODB_URI / AMQP_URL set → that service is external, nothing is
// installed for it. METERING_SERVICES_DIR moves .services/. METERING_SKIP_NPM_CI=1 never runs npm ci.
// METERING_CEILOMETER_VENV moves the virtualenv (default ~/.cache/metering/ceilometer-<hash>);
// METERING_SKIP_CEILOMETER=1 skips it (the interop tests then fail saying so).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STATE_DIR = process.env.METERING_SERVICES_DIR ? path.resolve(process.env.METERING_SERVICES_DIR) : path.join(REPO, '.services');
const CHECK_ONLY = process.argv.includes('--check');
const MAVEN_DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.6.1';

/** Jar sets fetched by Maven: pom in git, jars in .services/<name>/libs (git-ignored; ~/.m2 caches). */
const JAR_SETS = [
  {
    name: 'kafka',
    what: 'Kafka 3.9.1 broker jars',
    pom: path.join(REPO, 'services/kafka/pom.xml'),
    libs: process.env.METERING_KAFKA_LIBS ?? path.join(STATE_DIR, 'kafka/libs'),
    skip: process.env.KAFKA_BROKERS ? 'KAFKA_BROKERS is set' : undefined,
  },
  {
    name: 'mongo-standin',
    what: 'MongoDB stand-in jars (mongo-java-server)',
    pom: path.join(REPO, 'services/mongo-standin/pom.xml'),
    libs: process.env.METERING_MONGO_STANDIN_LIBS ?? path.join(STATE_DIR, 'mongo-standin/libs'),
    skip: process.env.MONGODB_URI ? 'MONGODB_URI is set' : undefined,
  },
];

const say = (msg) => process.stdout.write(`[ensure] ${msg}\n`);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
let missing = 0;

function which(name) {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/bin']) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** Run a command; `capture` keeps its output (printed only on failure, minus colour codes). */
function run(cmd, args, { capture = false, echoFailure = (out) => out, ...opts } = {}) {
  say(`$ ${[cmd, ...args].join(' ')}`);
  const started = Date.now();
  const result = spawnSync(cmd, args, {
    cwd: REPO,
    stdio: ['ignore', capture ? 'pipe' : 'inherit', capture ? 'pipe' : 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    ...opts,
  });
  if (result.status !== 0) {
    const why = result.error ? result.error.message : `exit code ${result.status}`;
    if (capture) process.stderr.write(echoFailure(`${result.stdout ?? ''}${result.stderr ?? ''}`.replace(/\x1b\[[0-9;]*m/g, '')) + '\n');
    throw new Error(`${cmd} ${args.join(' ')} failed (${why})`);
  }
  say(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

const mtime = (file) => {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
};

// 1. npm packages ------------------------------------------------------------------------------
function ensureNodeModules() {
  const lock = path.join(REPO, 'package-lock.json');
  const installed = mtime(path.join(REPO, 'node_modules/.package-lock.json'));
  const reason = installed === undefined ? 'node_modules is missing' : installed < (mtime(lock) ?? 0) ? 'node_modules is older than package-lock.json' : undefined;
  if (!reason) return;
  if (process.env.METERING_SKIP_NPM_CI === '1') {
    say(`${reason}, but METERING_SKIP_NPM_CI=1: not running npm ci`);
    return;
  }
  missing += 1;
  if (CHECK_ONLY) return say(`missing: npm packages (${reason}): run npm ci`);
  say(`${reason}: installing npm packages`);
  try {
    run('npm', ['ci', '--no-audit', '--no-fund'], { capture: true, echoFailure: (out) => out.split('\n').filter((l) => /code E|can only install|Missing:|ERR!/.test(l)).join('\n') });
  } catch (err) {
    // npm ci refuses a package-lock.json that is out of sync with package.json; install from
    // package.json without rewriting the lock, so the run goes on and the message says what to fix
    say(`${err.message}: falling back to npm install --no-save (package-lock.json is left as it is; regenerate it with npm install)`);
    run('npm', ['install', '--no-audit', '--no-fund', '--no-save']);
  }
}

// 2. Debian packages: redis-server, plus java and mvn for the jar-based services ----------------
function ensureDebianPackages() {
  const needJava = JAR_SETS.some((s) => !s.skip);
  const wanted = [];
  if (!process.env.REDIS_URL && !which('redis-server')) wanted.push(['redis-server', 'redis-server']);
  // RabbitMQ (Ceilometer's notifier over oslo.messaging's default rabbit driver), run by services/rabbitmq.ts
  if (!process.env.AMQP_URL && !fs.existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server')) wanted.push(['rabbitmq-server', 'rabbitmq-server']);
  // sshd for the SSH provisioner's tests (run as a private process on 127.0.0.1, never as the system service)
  if (!which('sshd')) wanted.push(['sshd', 'openssh-server']);
  if (needJava && !which('java') && !(process.env.JAVA_HOME && fs.existsSync(path.join(process.env.JAVA_HOME, 'bin/java')))) {
    wanted.push(['java', 'openjdk-17-jre-headless']);
  }
  if (needJava && !which('mvn') && JAR_SETS.some((s) => !s.skip && !jarsComplete(s))) wanted.push(['mvn', 'maven']);
  // the console's browser tests and demo screenshots drive Debian's Chromium (playwright-core, no browser download)
  if (!process.env.CHROMIUM_PATH && !which('chromium')) wanted.push(['chromium', 'chromium']);
  if (wanted.length === 0) return;
  missing += 1;
  const pkgs = wanted.map(([, pkg]) => pkg);
  if (CHECK_ONLY) return say(`missing: ${wanted.map(([bin]) => bin).join(', ')}: apt-get install ${pkgs.join(' ')}`);
  if (!isRoot) {
    throw new Error(
      `${wanted.map(([bin]) => bin).join(', ')} not found and not root: run sudo apt-get install -y ${pkgs.join(' ')}` +
        (pkgs.includes('redis-server') ? ' (or set REDIS_URL=redis://host:port)' : ''),
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-q'], { env });
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { env });
}

// 3. jars from Maven Central ---------------------------------------------------------------------
const pomHash = (pom) => createHash('sha256').update(fs.readFileSync(pom)).digest('hex').slice(0, 16);
const stampFile = (set) => path.join(set.libs, '.complete');

/** Complete when the stamp written after a successful fetch names the current pom's hash. */
function jarsComplete(set) {
  try {
    return fs.readFileSync(stampFile(set), 'utf8').trim() === pomHash(set.pom);
  } catch {
    return false;
  }
}

function ensureJars(set) {
  if (set.skip) return;
  if (jarsComplete(set)) return;
  missing += 1;
  if (CHECK_ONLY) return say(`missing: ${set.what} in ${set.libs}: run node scripts/ensure.mjs`);
  if (!which('mvn')) throw new Error(`mvn not found: apt-get install maven (needed to fetch ${set.what})`);
  say(`fetching ${set.what} with Maven into ${path.relative(REPO, set.libs) || set.libs}`);
  // fetch into a fresh temp dir and swap it in, so a concurrent run never sees half a classpath
  const tmp = `${set.libs}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    run('mvn', ['-B', '-q', '-f', set.pom, `${MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies`, '-DincludeScope=runtime', `-DoutputDirectory=${tmp}`], { capture: true });
    const jars = fs.readdirSync(tmp).filter((f) => f.endsWith('.jar'));
    if (jars.length === 0) throw new Error(`Maven copied no jars for ${set.pom}`);
    fs.writeFileSync(path.join(tmp, '.complete'), pomHash(set.pom) + '\n');
    fs.rmSync(set.libs, { recursive: true, force: true });
    fs.renameSync(tmp, set.libs);
    say(`  ${jars.length} jars in ${set.libs}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// 4. Ceilometer from PyPI in a cached virtualenv ------------------------------------------------
// Keyed by the requirements file's hash, so a changed pin builds a new one; shared between clones
// of this machine (the cache is outside the checkout), built again on a fresh machine.
const CEILOMETER_REQUIREMENTS = path.join(REPO, 'services/ceilometer/requirements.txt');
function ceilometerVenvDir() {
  if (process.env.METERING_CEILOMETER_VENV) return path.resolve(process.env.METERING_CEILOMETER_VENV);
  const cache = process.env.XDG_CACHE_HOME ?? path.join(process.env.HOME ?? '/root', '.cache');
  return path.join(cache, 'metering', `ceilometer-${pomHash(CEILOMETER_REQUIREMENTS)}`);
}

function ensureCeilometerVenv() {
  if (process.env.METERING_SKIP_CEILOMETER === '1') return;
  const dir = ceilometerVenvDir();
  if (fs.existsSync(path.join(dir, '.complete'))) return;
  missing += 1;
  if (CHECK_ONLY) return say(`missing: Ceilometer virtualenv in ${dir}: run node scripts/ensure.mjs`);
  const python = which('python3');
  if (!python) throw new Error('python3 not found: apt-get install python3 python3-venv (needed for the Ceilometer interop tests)');
  say(`installing Ceilometer from PyPI into ${dir} (services/ceilometer/requirements.txt)`);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  try {
    run(python, ['-m', 'venv', tmp], { capture: true });
    run(path.join(tmp, 'bin/python'), ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-r', CEILOMETER_REQUIREMENTS], { capture: true });
    // built aside and moved in whole, so a half-built one is never taken for ready; used through
    // bin/python (which finds its site-packages wherever the folder lives), never through bin/ scripts
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    run(path.join(dir, 'bin/python'), ['-c', 'import ceilometer.publisher.http, ceilometer.publisher.udp, ceilometer.publisher.messaging, ceilometer.sample'], { capture: true });
    fs.writeFileSync(path.join(dir, '.complete'), pomHash(CEILOMETER_REQUIREMENTS) + '\n');
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const started = Date.now();
try {
  ensureNodeModules();
  ensureDebianPackages();
  for (const set of JAR_SETS) ensureJars(set);
  ensureCeilometerVenv();
} catch (err) {
  process.stderr.write(`[ensure] ERROR: ${err.message}\n`);
  process.exit(1);
}
if (CHECK_ONLY) {
  say(missing === 0 ? 'everything is in place' : `${missing} thing(s) missing`);
  process.exit(missing === 0 ? 0 : 1);
}
say(missing === 0 ? `everything in place (${Date.now() - started} ms)` : `ready (${((Date.now() - started) / 1000).toFixed(1)} s)`);
