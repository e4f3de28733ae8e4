import { MongoClient, type Db, type Document } from 'mongodb';
import type { Logger } from 'pino';
import { Actuator, loopbackHeadroom, type ActionOutcome, type HeadroomSource } from './actuator';
import { findBinaries } from './cluster/binaries';
import { LocalProcessProvisioner } from './cluster/local';
import { SshProvisioner } from './cluster/ssh';
import type { PlacementCaps } from './cluster/placement';
import type { Provisioner } from './cluster/provisioner';
import { clusterDir, readState } from './cluster/state';
import { policyConfig, type PolicyConfig, type ScalerConfig } from './config';
import { DecisionRepository, type DecisionRecord } from './decisions';
import { ScalerLoop, type RoundTrigger } from './loop';
import { Mutex } from '../lib/mutex';
import { FencedOutError } from '../cluster/fence';
import { soloLeadership, type Leadership } from '../cluster/leadership';
import { readRoutingConfig, readsThatMove, type ReadRoutingConfig } from '../pipeline/store/read-options';
import { MetricsLineError, parseMetricsJsonl, type Observation, type OnboardingEstimate } from './metrics';
import { PredictiveSignals, toEstimate } from './onboarding';
import { ACTIONS, runPolicy, type Action, type Decision } from './policy';
import { collectSignals, diskPercent, mergeObservations, opRates, osLoad } from './signals';
import { clusterView, detectTopology, notShardedReason, type ClusterView, type Topology } from './topology';

/** A bad evaluate request (bad series line, bad policy); the message names what and where. */
export class EvaluateInputError extends Error {}

/** Actuation was asked for but is not possible here; the message says why. */
export class ActuationRefusedError extends Error {}

export interface ScalerServiceDeps {
  config: ScalerConfig;
  /** The store's client (mongos on a sharded cluster). */
  mongo: MongoClient;
  /** The store database: scaler_decisions and scaler_onboarding live here, dbStats is taken of it. */
  db: Db;
  log: Logger;
  /** For display only (GET /v1/cluster); credentials are never shown. */
  uri?: string;
  now?: () => Date;
  /** profiler.caps: what a hosting VM may take on when the SSH provisioner places a member (paper: +15 pp CPU, +10 pp memory). */
  placementCaps?: PlacementCaps;
  /** store.reads: which reads an added secondary takes over (explained in add-replica decisions). */
  reads?: ReadRoutingConfig;
  /** Direct connection to a shard member (default `mongodb://host/?directConnection=true`). */
  connectShard?: (host: string) => Promise<MongoClient>;
  /**
   * The scaler's lease when several controllers run (cluster/): only its holder runs the loop's rounds
   * and carries out actions, each fenced at the point of action. Default: this controller alone.
   */
  leadership?: Leadership;
  /** This controller's id, stored with each decision when clustered. */
  controller?: string;
}

export interface EvaluateRequest {
  /** Metric series: observation and onboarding objects as in `scaler replay` JSONL; absent = the live observations. */
  series?: unknown[];
  /** Policy override (keys of scaler.policy); absent = the configured policy. */
  policy?: unknown;
  /** Return every evaluation, not only actions. */
  all?: boolean;
  /**
   * Run one control-loop round now and carry out its decision (real sharded cluster only). Never
   * together with `series` or `policy`: a what-if never acts on the cluster.
   */
  actuate?: boolean;
  /** Who asked (token name, remote address): stored with the round as its audit record. */
  requestedBy?: { token: string; remote?: string };
}

export interface EvaluateResult {
  source: 'series' | 'live';
  observations: number;
  onboarding: number;
  evaluations: number;
  decisions: Decision[];
  /** The evaluation at the last instant (what the policy says now). */
  latest?: Decision;
  actuation?: { status: 'done' | 'failed' | 'none'; detail: string; counts?: { before: number; after: number } };
  /** With actuate: who asked (as stored in the decision's audit record). */
  requested_by?: { token: string; remote?: string };
  note?: string;
}

/** Counters exposed at /metrics. */
export interface ScalerCounters {
  /** Rounds whose decision was stored, and those decisions by action. */
  rounds: number;
  byAction: Record<Action, number>;
  /** Rounds the cluster fence refused (another controller leads the scaler): nothing stored or carried out. */
  fenced: number;
  actuations: { done: number; failed: number; skipped: number };
  apiEvaluations: number;
  lastEvaluation?: Date;
  observedShards: number;
}

/**
 * The scaler inside the running product: the decision history, the onboarding signals, the recent
 * observations, and (when `scaler.loop.enabled`) the control loop collect → policy → store → act.
 * It only actuates on a real sharded cluster whose shards it can start (the local cluster of
 * `metering cluster up`); everywhere else actions are stored with outcome `skipped` and the reason.
 */
export class ScalerService {
  readonly decisions: DecisionRepository;
  readonly signals: PredictiveSignals;
  readonly counters: ScalerCounters = { rounds: 0, byAction: Object.fromEntries(ACTIONS.map((a) => [a, 0])) as Record<Action, number>, fenced: 0, actuations: { done: 0, failed: 0, skipped: 0 }, apiEvaluations: 0, observedShards: 0 };
  private recent: Observation[] = [];
  private topology?: Topology;
  private loop?: ScalerLoop;
  private running?: Promise<unknown>;
  private wake?: () => void;
  private headroom: HeadroomSource = loopbackHeadroom;
  private headroomFromProfiler = false;
  private vmLoad?: () => Record<string, { cpu?: number; memory?: number }> | ReadonlyMap<string, { cpu?: number; memory?: number }>;
  private readonly statusState = new Map<string, Document>();
  private readonly recordIds = new WeakMap<Decision, string>();
  private actuator?: Actuator;
  /** One lock for every round that may act: the loop's interval and `evaluate?actuate=true`. */
  private readonly actLock = new Mutex();
  /** Outcomes of API-triggered rounds, picked up by `evaluate` (keyed by the decision object). */
  private readonly apiOutcomes = new WeakMap<Decision, NonNullable<EvaluateResult['actuation']>>();
  /** The scaler lease (fencing token; undefined when not clustered) the stored actions were last recalled under. */
  private recalledUnder?: { token: number | undefined };

  constructor(private readonly d: ScalerServiceDeps) {
    this.decisions = new DecisionRepository(d.db);
    this.signals = new PredictiveSignals(d.db);
  }

  private now(): Date {
    return (this.d.now ?? (() => new Date()))();
  }

  get config(): ScalerConfig {
    return this.d.config;
  }

  /** Indexes, estimates registered before a restart, and the deployment's topology. */
  async init(): Promise<void> {
    await this.decisions.ensureIndexes();
    const reloaded = await this.signals.load();
    this.topology = await detectTopology(this.d.mongo);
    this.d.log.info({ topology: this.topology, reloadedOnboarding: reloaded, loop: this.d.config.loop.enabled }, 'scaler ready');
  }

  async currentTopology(): Promise<Topology> {
    this.topology ??= await detectTopology(this.d.mongo);
    return this.topology;
  }

  /** Where new replica sets go (the profiler's utilisation queues; default: loopback). */
  useHeadroom(src: HeadroomSource, fromProfiler = true): void {
    this.headroom = src;
    this.headroomFromProfiler = fromProfiler;
  }

  /** The caps a hosting VM may take on (profiler.caps; default the paper's +15 pp CPU, +10 pp memory, ceiling 90 %). */
  get placementCaps(): PlacementCaps {
    return this.d.placementCaps ?? { cpu_pp: 15, memory_pp: 10, ceiling_pct: 90 };
  }

  /** Whether new members go to SaaS VMs over SSH (scaler.ssh.hosts) rather than local processes. */
  get placesOverSsh(): boolean {
    return this.d.config.ssh.hosts.length > 0;
  }

  /** Per-VM load (percent) from the profiler; shards map to VMs by host name. */
  useVmLoad(fn: () => Record<string, { cpu?: number; memory?: number }> | ReadonlyMap<string, { cpu?: number; memory?: number }>): void {
    this.vmLoad = fn;
  }

  /** Observations kept for `evaluate` over the live state (oldest first). */
  recentObservations(): Observation[] {
    return [...this.recent];
  }

  /**
   * One collection round: through mongos, per-shard serverStatus rates and dbStats disk
   * (`collectSignals`); on a non-sharded deployment, the server itself as one "shard" named after
   * its replica set (or `standalone`). Plus the profiler's VM load when one is attached.
   *
   * Rates come from the difference to the previous `serverStatus` of each shard in `rateState`: the
   * loop's own by default (this round's counters become the next round's start). A collection for
   * anyone else (a live `evaluate`) passes a copy, so it never moves the loop's start and the loop's
   * next round covers exactly the interval since its previous one.
   */
  async collect(rateState: Map<string, Document> = this.statusState): Promise<{ observations: Observation[]; skipped: string[] }> {
    const topology = await this.currentTopology();
    const t = this.now();
    let observations: Observation[];
    let skipped: string[];
    let shardVms: Record<string, string[]>;
    if (topology.kind === 'sharded') {
      const r = await collectSignals(
        { mongos: this.d.mongo, connect: this.d.connectShard ?? ((h) => new MongoClient(`mongodb://${h}/?directConnection=true`, { serverSelectionTimeoutMS: 5000 }).connect()), log: this.d.log, database: this.d.config.database, collection: this.d.config.collection },
        rateState,
        t,
      );
      observations = r.observations;
      skipped = r.skipped;
      shardVms = r.shardHosts;
    } else {
      const r = await this.collectSingle(topology, t, rateState);
      observations = [r.observation];
      skipped = r.skipped;
      const host = topology.host ?? /\/\/(?:[^@/]*@)?([^/:,?]+)/.exec(this.d.uri ?? '')?.[1];
      shardVms = { [r.observation.shard]: host ? [host.split(':')[0]!] : [] };
    }
    if (this.vmLoad) observations = mergeObservations([...observations, ...osLoad(this.vmLoad(), shardVms, t)]);
    this.remember(observations);
    return { observations, skipped };
  }

  private async collectSingle(topology: Topology, t: Date, rateState: Map<string, Document>): Promise<{ observation: Observation; skipped: string[] }> {
    const shard = topology.setName ?? 'standalone';
    const o: Observation = { t, shard };
    const skipped: string[] = [];
    const admin = this.d.mongo.db('admin');
    try {
      const ss = await admin.command({ serverStatus: 1 });
      const prev = rateState.get(shard);
      rateState.set(shard, ss);
      const r = prev ? opRates(prev, ss) : undefined;
      if (r) Object.assign(o, { reads_per_s: r.reads_per_s, writes_per_s: r.writes_per_s }, r.query_ms !== undefined ? { query_ms: r.query_ms } : {});
      else if (prev) skipped.push('serverStatus: no opcounters to derive rates from');
    } catch (err) {
      skipped.push(`serverStatus: ${(err as Error).message}`);
    }
    try {
      const disk = diskPercent(await this.d.db.command({ dbStats: 1 }));
      if (disk) Object.assign(o, disk);
      else skipped.push('dbStats: no fsUsedSize/fsTotalSize');
    } catch (err) {
      skipped.push(`dbStats: ${(err as Error).message}`);
    }
    return { observation: o, skipped };
  }

  private remember(obs: readonly Observation[]): void {
    this.recent.push(...obs);
    const keep = this.d.config.loop.keepObservations;
    if (this.recent.length > keep) this.recent.splice(0, this.recent.length - keep);
    this.counters.observedShards = new Set(obs.map((o) => o.shard)).size;
  }

  /**
   * Why actions cannot be carried out here (undefined: they can). The loop additionally needs
   * `scaler.loop.actuate`; an explicit `POST /v1/scaler/evaluate?actuate=true` does not.
   */
  async actuationBlocker(purpose: RoundTrigger['by']): Promise<string | undefined> {
    const notSharded = notShardedReason(await this.currentTopology());
    if (notSharded) return notSharded;
    if (purpose === 'loop' && !this.d.config.loop.actuate) return 'scaler.loop.actuate is false: decisions are stored, not carried out';
    if (this.actuator) return undefined;
    let provisioner: Provisioner;
    if (this.placesOverSsh) {
      if (!this.headroomFromProfiler) return 'SSH placement (scaler.ssh.hosts) picks VMs from the profiler\'s queues, and no profiler module is running';
      try {
        provisioner = new SshProvisioner({ config: this.d.config.ssh, log: this.d.log, cacheGB: this.d.config.cluster.wiredTigerCacheSizeGB, startTimeoutMs: this.d.config.cluster.startTimeoutSec * 1000 });
      } catch (err) {
        return `no provisioner: ${(err as Error).message}`;
      }
    } else {
      const st = readState();
      if (!st) return `no provisioner: shards are started through the local cluster of \`metering cluster up\` (no state in ${clusterDir()}) or on SaaS VMs over SSH (scaler.ssh.hosts)`;
      try {
        const binaries = await findBinaries();
        provisioner = new LocalProcessProvisioner({ binaries, dir: clusterDir(), basePort: st.basePort, cacheGB: this.d.config.cluster.wiredTigerCacheSizeGB, startTimeoutMs: this.d.config.cluster.startTimeoutSec * 1000, log: this.d.log });
      } catch (err) {
        return `no provisioner: ${(err as Error).message}`;
      }
    }
    this.actuator = new Actuator({ mongos: this.d.mongo, provisioner, headroom: { pickHost: (o) => this.headroom.pickHost(o) }, config: this.d.config, log: this.d.log, verifyCounts: this.d.config.loop.verifyCounts });
    return undefined;
  }

  /** Store a decision with where it came from; actions that cannot be carried out get outcome `skipped`. */
  private async store(d: Decision, source: 'loop' | 'api', blocker: string | undefined, extraInputs: Record<string, unknown>, requestedBy?: DecisionRecord['requested_by'], fenceToken?: number): Promise<string> {
    const stored: Decision = { ...d, inputs: { ...d.inputs, ...extraInputs } };
    const outcome: DecisionRecord['outcome'] = d.action !== 'none' && blocker ? { status: 'skipped', detail: blocker, at: this.now() } : undefined;
    if (outcome) this.counters.actuations.skipped++;
    const cluster = fenceToken !== undefined ? { fence_token: fenceToken, ...(this.d.controller ? { controller: this.d.controller } : {}) } : {};
    return this.decisions.record(stored, this.now(), { source, ...(outcome ? { outcome } : {}), ...(requestedBy ? { requested_by: requestedBy } : {}), ...cluster });
  }

  private get leadership(): Leadership {
    return this.d.leadership ?? soloLeadership('scaler');
  }

  private async carryOut(d: Decision, id: string): Promise<ActionOutcome> {
    try {
      const out = await this.actuator!.apply(d);
      this.counters.actuations.done++;
      await this.decisions.setOutcome(id, { status: 'done', detail: out.detail, at: this.now(), ...(out.counts ? { counts: out.counts } : {}) });
      return out;
    } catch (err) {
      this.counters.actuations.failed++;
      await this.decisions.setOutcome(id, { status: 'failed', detail: (err as Error).message, at: this.now() });
      throw err;
    }
  }

  private newLoop(): ScalerLoop {
    let lastCollect: { n: number; skipped: string[] } = { n: 0, skipped: [] };
    return new ScalerLoop({
      policy: this.d.config.policy,
      exclusive: (fn) => this.actLock.run(fn),
      leading: () => this.leadership.leading(),
      // a round under a lease this controller did not recall under yet (it gained the scaler lease, or
      // this is its first round) first recalls the stored actions: no decision before their cooldowns hold
      prepare: () => this.recallIfNewLease(),
      log: this.d.log,
      now: () => this.now(),
      sleep: (ms) => this.sleep(ms),
      collect: async () => {
        const r = await this.collect();
        lastCollect = { n: r.observations.length, skipped: r.skipped };
        return r.observations;
      },
      onboarding: () => this.signals.drain(this.now()),
      record: async (d, trigger) => {
        this.explainReads(d);
        this.counters.lastEvaluation = this.now();
        const blocker = d.action === 'none' ? undefined : await this.actuationBlocker(trigger.by);
        const topology = await this.currentTopology();
        const source = trigger.by;
        const requestedBy = trigger.by === 'api' ? { token: trigger.requestedBy, ...(trigger.remote ? { remote: trigger.remote } : {}) } : undefined;
        // fenced: a controller whose scaler lease lapsed, or that a newer leader has overtaken, stores
        // nothing (FencedOutError) and so carries nothing out (act finds no record id)
        // ... and its policy forgets the round's evaluation (the loop restores the state on false)
        const fence = await this.fenced(d, trigger, 'decision not stored and not carried out');
        if (fence === false) {
          this.counters.fenced++;
          return false;
        }
        const id = await this.store(d, source, blocker, { topology: topology.kind, collected: lastCollect.n, ...(lastCollect.skipped.length ? { skipped: lastCollect.skipped } : {}) }, requestedBy, fence?.token);
        // counted once stored: a refused or failed round is no decision of this controller
        this.counters.rounds++;
        this.counters.byAction[d.action]++;
        if (!blocker) this.recordIds.set(d, id);
        return true;
      },
      act: async (d, trigger) => {
        const id = this.recordIds.get(d);
        if (id === undefined) return; // not actuatable here (stored as skipped with the reason), or fenced out
        // the check at the point of action: right before the cluster is changed
        if ((await this.fenced(d, trigger, 'action not carried out')) === false) return;
        try {
          const out = await this.carryOut(d, id);
          if (trigger.by === 'api') this.apiOutcomes.set(d, { status: 'done', detail: out.detail, ...(out.counts ? { counts: out.counts } : {}) });
        } catch (err) {
          if (trigger.by === 'api') this.apiOutcomes.set(d, { status: 'failed', detail: (err as Error).message });
          throw err;
        }
      },
    });
  }

  /**
   * The scaler lease's fence for decision `d` (Leadership.fence), or false when this controller is
   * fenced out: logged, and an API round is told why.
   */
  private async fenced(d: Decision, trigger: { by: string }, what: string): Promise<Awaited<ReturnType<Leadership['fence']>> | false> {
    try {
      return await this.leadership.fence();
    } catch (err) {
      if (!(err instanceof FencedOutError)) throw err;
      this.d.log.warn({ err: err.message, action: d.action }, `scaler: ${what}: fenced out`);
      if (trigger.by === 'api') this.apiOutcomes.set(d, { status: 'failed', detail: err.message });
      return false;
    }
  }

  /** One round of the control loop (collect → policy → store → act), as the interval runs it. */
  async tick(): Promise<Decision | undefined> {
    this.loop ??= this.newLoop();
    return this.loop.tick();
  }

  /** Start the control loop on `scaler.loop.interval` when `scaler.loop.enabled`. */
  start(): boolean {
    if (!this.d.config.loop.enabled || this.running) return false;
    this.loop ??= this.newLoop();
    // the actions stored before (a restart, or another controller's lead) keep their cooldowns: each
    // round recalls them first whenever the scaler lease is a new one (prepare, under the round lock)
    this.running = this.loop.run(this.d.config.loop.interval);
    return true;
  }

  /**
   * Recall the stored actions when this round runs under a lease (fencing token) it has not recalled
   * under yet: this controller's first round, and the first after every gain of the scaler lease. The
   * token is read in the round itself, so no round decides before the recall, however late the lease's
   * change listeners run. A failed read throws: the round is skipped and the next one tries again.
   */
  private async recallIfNewLease(): Promise<void> {
    const token = this.leadership.token();
    if (this.recalledUnder && this.recalledUnder.token === token) return;
    try {
      const n = await this.recallActions();
      this.recalledUnder = { token };
      if (this.leadership.clustered) this.d.log.info({ token, recalled: n }, 'scaler: leading under a new lease; earlier actions recalled');
    } catch (err) {
      throw new Error(`earlier actions could not be read (${(err as Error).message}); no decision before their cooldowns are known`);
    }
  }

  /** Feed the actions stored in the decision history (not skipped or failed, not what-ifs) to the loop's policy. */
  private async recallActions(): Promise<number> {
    const c = this.d.config.policy.cooldown;
    const horizon = Math.max(c.afterScaleOut, c.maxScaleOutCooldown, c.scaleInAfterScaleOut, c.afterScaleIn, c.scaleOutAfterScaleIn);
    const history = await this.decisions.history({ actionsOnly: true, since: new Date(this.now().getTime() - horizon), limit: 1000 });
    const taken = history.filter((r) => r.inputs?.what_if !== true && r.outcome?.status !== 'skipped' && r.outcome?.status !== 'failed');
    this.loop?.policy.recall(taken.map((r) => ({ t: r.t, action: r.action })));
    return taken.length;
  }

  /** The loop's wait between rounds; `stop` cuts it short. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async stop(): Promise<void> {
    this.loop?.stop();
    this.wake?.();
    await this.running?.catch(() => undefined);
    this.running = undefined;
  }

  get loopRunning(): boolean {
    return this.running !== undefined;
  }

  /** The deployment as `GET /v1/cluster` shows it. */
  async cluster(): Promise<ClusterView & { loop: { enabled: boolean; actuate: boolean; running: boolean; rounds: number; lastEvaluation: string | null; actuation: string; leader: string | null; leading: boolean } }> {
    const view = await clusterView(this.d.mongo, this.d.db.databaseName, this.d.config.policy, this.d.uri ?? '');
    this.topology = view.topology;
    const blocker = await this.actuationBlocker('loop');
    return {
      ...view,
      loop: {
        enabled: this.d.config.loop.enabled,
        actuate: this.d.config.loop.actuate,
        running: this.loopRunning,
        rounds: this.counters.rounds,
        lastEvaluation: this.counters.lastEvaluation?.toISOString() ?? null,
        actuation: blocker ? `recorded only: ${blocker}` : 'actuated: the loop carries out its decisions on this cluster',
        leader: this.leadership.clustered ? (this.leadership.leader() ?? null) : null,
        leading: this.leadership.leading(),
      },
    };
  }

  /**
   * Evaluate the policy over a posted series or policy (a what-if: not stored, never carried out) or
   * over the live observations (collecting one round now when there are none; the latest evaluation
   * is stored with source `api`). With `actuate` (and neither series nor policy) it runs one round of
   * the control loop now: the loop's own policy state (windows, cooldowns, hysteresis), under the
   * lock the loop's interval also takes, stored with who asked; the action is carried out only on a
   * real sharded cluster with a provisioner (else `ActuationRefusedError`).
   */
  async evaluate(req: EvaluateRequest): Promise<EvaluateResult> {
    if (req.actuate && (req.series !== undefined || req.policy !== undefined)) {
      const posted = [req.series !== undefined ? 'series' : '', req.policy !== undefined ? 'policy' : ''].filter(Boolean).join(' and ');
      throw new EvaluateInputError(
        `actuate=true cannot be combined with a posted ${posted}: a what-if evaluation is never carried out on the cluster. ` +
          'Drop ?actuate to see what the policy would decide, or post no body with ?actuate=true to run one round of the control loop now (its own observations, cooldowns and hysteresis)',
      );
    }
    if (req.actuate) return this.actuateNow(req.requestedBy ?? { token: 'unknown' });
    const policy = this.policyOf(req.policy);
    let observations: Observation[];
    let onboarding: OnboardingEstimate[];
    let note: string | undefined;
    const source = req.series ? 'series' : 'live';
    if (req.series) {
      ({ observations, onboarding } = parseSeries(req.series));
      if (observations.length === 0) throw new EvaluateInputError('series: no observations (need objects with t and shard)');
    } else {
      if (this.recent.length === 0) {
        // from a copy of the loop's previous counters: rates since the loop's last round, and the
        // loop's next round still measures from its own previous one
        await this.collect(new Map(this.statusState));
        note = this.d.config.loop.enabled ? undefined : 'the control loop is off (scaler.loop.enabled: false): evaluated one round collected now';
      }
      observations = this.recentObservations();
      onboarding = this.signals.pending();
    }
    const all = runPolicy(policy, observations, onboarding);
    for (const d of all) this.explainReads(d);
    const latest = all[all.length - 1];
    this.counters.apiEvaluations++;
    const result: EvaluateResult = { source, observations: observations.length, onboarding: onboarding.length, evaluations: all.length, decisions: req.all ? all : all.filter((d) => d.action !== 'none'), ...(latest ? { latest } : {}), ...(note ? { note } : {}) };
    if (latest && source === 'live') await this.store(latest, 'api', undefined, { topology: (await this.currentTopology()).kind, evaluated: source, what_if: true }, req.requestedBy);
    return result;
  }

  /**
   * `POST /v1/scaler/evaluate?actuate=true`: one round of the control loop, now, exclusively (waits
   * for a round in progress), with the loop's policy state, recorded with who asked.
   */
  private async actuateNow(requestedBy: { token: string; remote?: string }): Promise<EvaluateResult> {
    if (!this.leadership.leading()) {
      const leader = this.leadership.leader();
      throw new ActuationRefusedError(`this controller does not lead the scaler${leader ? ` (${leader} does: GET /v1/cluster/controllers gives its address)` : ' (no controller holds the scaler lease right now)'}; ask the leader, only it acts on the cluster`);
    }
    const blocker = await this.actuationBlocker('api');
    if (blocker) {
      this.d.log.warn({ requestedBy, reason: blocker }, 'scaler: actuation refused');
      throw new ActuationRefusedError(blocker);
    }
    this.counters.apiEvaluations++;
    this.loop ??= this.newLoop();
    this.d.log.info({ requestedBy }, 'scaler: actuation round requested through the API');
    const d = await this.loop.tick({ by: 'api', requestedBy: requestedBy.token, ...(requestedBy.remote ? { remote: requestedBy.remote } : {}) });
    if (!d) throw new ActuationRefusedError('the round did not run: the observations could not be collected from the cluster, or the actions stored earlier could not be read (see the log); nothing was carried out');
    const actuation = d.action === 'none' ? { status: 'none' as const, detail: 'the policy decided nothing: nothing carried out' } : (this.apiOutcomes.get(d) ?? { status: 'failed' as const, detail: 'not carried out (see the decision record)' });
    return { source: 'live', observations: this.recent.length, onboarding: this.signals.pending().length, evaluations: 1, decisions: d.action === 'none' ? [] : [d], latest: d, actuation, requested_by: requestedBy };
  }

  /** An add-replica decision says which reads the new secondaries take over (store.reads). */
  private explainReads(d: Decision): void {
    if (d.action !== 'add-replica' || d.inputs.reads) return;
    const r = readsThatMove(this.d.reads ?? readRoutingConfig.parse(undefined));
    d.reason = `${d.reason}; ${r.summary}`;
    d.inputs.reads = { moves: r.moves, stays: r.stays };
  }

  private policyOf(raw: unknown): PolicyConfig {
    if (raw === undefined) return this.d.config.policy;
    const r = policyConfig.safeParse(raw);
    if (!r.success) throw new EvaluateInputError(r.error.issues.map((i) => (i.code === 'unrecognized_keys' ? `policy: unknown field(s) ${i.keys.join(', ')}` : `policy.${i.path.join('.')}: ${i.message}`)).join('; '));
    return r.data;
  }

  /**
   * Register an onboarding estimate (the Heat hook's bytes/day and events/s) for predictive
   * scale-out. Returns when the policy will act on it and, when observations exist, the decision it
   * would trigger on the current state.
   */
  async onboard(input: unknown): Promise<{ estimate: OnboardingEstimate; triggerAt: Date; pending: number; preview?: Decision }> {
    const estimate = toEstimate(input, this.now());
    await this.signals.register(estimate);
    const triggerAt = new Date(Math.max(estimate.t.getTime(), estimate.arrives_at.getTime() - this.d.config.policy.predictive.leadTime));
    let preview: Decision | undefined;
    const obs = this.recentObservations();
    if (obs.length) {
      const last = Math.max(...obs.map((o) => o.t.getTime()));
      // the estimate as if it were due now, over the current state
      const ds = runPolicy(this.d.config.policy, obs, [{ ...estimate, t: new Date(last), arrives_at: new Date(last) }]);
      preview = ds.find((d) => d.inputs.onboarding !== undefined);
    }
    this.d.log.info({ estimate, triggerAt }, 'scaler: onboarding estimate registered');
    return { estimate, triggerAt, pending: this.signals.pending().length, ...(preview ? { preview } : {}) };
  }

  /** Counter values for /metrics. */
  metricsSnapshot(): Record<string, number> {
    const c = this.counters;
    const out: Record<string, number> = { metering_scaler_rounds_total: c.rounds, metering_scaler_rounds_fenced_total: c.fenced };
    for (const a of ACTIONS) out[`metering_scaler_decisions_${a.replace('-', '_')}_total`] = c.byAction[a];
    out.metering_scaler_actuations_done_total = c.actuations.done;
    out.metering_scaler_actuations_failed_total = c.actuations.failed;
    out.metering_scaler_actuations_skipped_total = c.actuations.skipped;
    out.metering_scaler_api_evaluations_total = c.apiEvaluations;
    out.metering_scaler_last_evaluation_timestamp_seconds = c.lastEvaluation ? c.lastEvaluation.getTime() / 1000 : 0;
    out.metering_scaler_observed_shards = c.observedShards;
    out.metering_scaler_onboarding_pending = this.signals.pending().length;
    return out;
  }
}

/**
 * A posted series (objects as the lines of `scaler replay` JSONL) → observations and estimates,
 * with the same checks as the file parser; errors name the item (`series[3]: cpux: unknown field`).
 */
export function parseSeries(series: unknown[]): { observations: Observation[]; onboarding: OnboardingEstimate[] } {
  try {
    return parseMetricsJsonl(series.map((s) => JSON.stringify(s ?? null)).join('\n'), 'series');
  } catch (err) {
    if (err instanceof MetricsLineError) throw new EvaluateInputError(`series[${err.line - 1}]: ${err.message.slice(err.message.indexOf(': ') + 2)}`);
    throw err;
  }
}
