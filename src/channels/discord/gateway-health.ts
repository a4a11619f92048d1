import { onShards } from './shards.ts';

/** Discord's heartbeat interval (HELLO), until the gateway tells this connection its own. */
const DEFAULT_HEARTBEAT_MS = 41_250;
/** discord.js logs the interval HELLO gave: `First heartbeat sent, starting to beat every 41250ms`. */
const HEARTBEAT_LINE = /starting to beat every (\d+)ms/;

/** What status needs to know of one gateway connection (a discord.js WebSocketShard). */
export interface ShardHealth {
  id: number;
  /** discord.js says the shard is Ready (not connecting, resuming or waiting for its guilds). */
  ready: boolean;
  /** discord.js's `shard.lastPingTimestamp`: when the last acknowledged heartbeat was sent. */
  lastAckedHeartbeatAt: number;
}

/**
 * Whether the gateway still answers, shard by shard: a socket can stay open, and even resume,
 * while Discord no longer acknowledges its heartbeats. A shard is alive when a heartbeat was
 * acknowledged, or a new session began, within one and a half heartbeat intervals (plus slack for
 * the round trip); a resumed session proves nothing until its first acknowledgement. One silent
 * shard is enough: its guilds go unanswered while the others are fine.
 */
export class GatewayHealth {
  private heartbeatMs = DEFAULT_HEARTBEAT_MS;
  private readonly sessionStartedAt = new Map<number, number>();

  /** Reads the heartbeat interval from a discord.js debug line, when it is that line (Discord gives every shard the same). */
  onDebugLine(line: string): void {
    const match = HEARTBEAT_LINE.exec(line);
    if (match) this.heartbeatMs = Number(match[1]);
  }

  /** A shard's new session is READY (after IDENTIFY, not RESUME). */
  onSessionStart(shardId: number, now = Date.now()): void {
    this.sessionStartedAt.set(shardId, now);
  }

  /** How long a shard has been silent when that is longer than it may be, else undefined. */
  silentFor(shardId: number, lastAckedHeartbeatAt: number, now = Date.now()): number | undefined {
    const silent = now - Math.max(lastAckedHeartbeatAt, this.sessionStartedAt.get(shardId) ?? 0);
    return silent > this.heartbeatMs * 1.5 + 2_000 ? silent : undefined;
  }

  /** Why the gateway is not working, naming the shards when there are several; undefined when every shard is. */
  problem(shards: ShardHealth[], now = Date.now()): string | undefined {
    const down = shards.filter((shard) => !shard.ready);
    if (down.length > 0) return `the gateway session is being re-established${onShards(down.map((shard) => shard.id), shards.length)}`;
    const silent = shards.flatMap((shard) => {
      const ms = this.silentFor(shard.id, shard.lastAckedHeartbeatAt, now);
      return ms === undefined ? [] : [{ id: shard.id, ms }];
    });
    if (silent.length === 0) return undefined;
    const longest = Math.max(...silent.map((shard) => shard.ms));
    return `the Discord gateway has not acknowledged a heartbeat for ${Math.round(longest / 1000)} s${onShards(silent.map((shard) => shard.id), shards.length)}`;
  }
}
