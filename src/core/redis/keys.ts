/** Every key mybot keeps in Redis, under `bus.redis_prefix`. */
export class RedisKeys {
  constructor(private readonly prefix: string) {}

  /** Inbound events of the sessions that hash to partition `n`. */
  inbound(n: number): string {
    return `${this.prefix}:in:${n}`;
  }

  isInbound(stream: string): boolean {
    return stream.startsWith(`${this.prefix}:in:`);
  }

  /** Outbound events for one running channel (account), read by the gateway that runs it. */
  outbound(channel: string): string {
    return `${this.prefix}:out:${channel}`;
  }

  /** Who works on a stream right now: a process id. */
  lease(stream: string): string {
    return `${stream}:owner`;
  }

  /** Set once per event id: a second publish of it (a platform's redelivery) is a duplicate. */
  seen(eventId: string): string {
    return `${this.prefix}:seen:${eventId}`;
  }

  /** Hash by event id: delivery progress of outbound events (chunks, pieces, draft ids). */
  get progress(): string {
    return `${this.prefix}:progress`;
  }

  /** Hash by event id: retry counts of inbound events handed back. */
  get retries(): string {
    return `${this.prefix}:retries`;
  }

  /** Sorted set: every process, scored by its last heartbeat (Redis time, ms). */
  get beats(): string {
    return `${this.prefix}:beats`;
  }

  /** Sorted set: the processes that run agents, scored by their last heartbeat. */
  get agents(): string {
    return `${this.prefix}:agents`;
  }

  /** Hash by process id: what each process says about itself (role, pid, host, work in flight). */
  get processes(): string {
    return `${this.prefix}:processes`;
  }

  /** Pub/sub channel for what is not kept: typing and drafts. */
  get live(): string {
    return `${this.prefix}:live`;
  }
}

/** The consumer group of every stream. */
export const GROUP = 'mybot';

/** FNV-1a: a session always lands on the same partition, on every process and version. */
export function partitionOf(sessionId: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < sessionId.length; i++) {
    hash ^= sessionId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}
