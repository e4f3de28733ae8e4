/**
 * Where a metering-store replica set runs, separated from what the scaler does with it. The local
 * implementation starts processes on 127.0.0.1 (`LocalProcessProvisioner`); a remote one would start
 * them on a SaaS VM chosen by the profiler's headroom queues.
 */
export interface ReplicaSetSpec {
  /** Replica set name (also the shard name), e.g. `sh2`. */
  name: string;
  role: 'configsvr' | 'shardsvr';
  /** Host (VM) to place it on; the local provisioner only accepts 127.0.0.1/localhost. */
  vm?: string;
}

export interface ReplicaSetHandle {
  name: string;
  /** `host:port` of every member, primary first. */
  hosts: string[];
}

export interface Provisioner {
  /**
   * Whether this provisioner puts processes on the profiled SaaS VMs (then the actuator asks the
   * headroom source which VM); false for one that runs everything in one place (local processes).
   */
  readonly placesOnVms: boolean;
  /** Start a one-member replica set, initiate it and wait for its primary. */
  startReplicaSet(spec: ReplicaSetSpec): Promise<ReplicaSetHandle>;
  /** VMs already hosting a member of the replica set (members of one shard go on distinct VMs). */
  vmsOf?(name: string): string[];
  /** Stop every member of the replica set and release its resources. */
  stopReplicaSet(name: string): Promise<void>;
  /**
   * Start one more member and add it to the replica set (replSetReconfig); resolves once it is
   * SECONDARY. `voting: false` adds it with votes 0 and priority 0 (the actuator adds members that
   * way and grants votes after their initial sync, one member per reconfig).
   */
  addSecondary(name: string, vm?: string, opts?: { voting?: boolean }): Promise<ReplicaSetHandle>;
}

/** `rs/host1,host2` as addShard and --configdb expect. */
export const seedList = (h: ReplicaSetHandle): string => `${h.name}/${h.hosts.join(',')}`;
