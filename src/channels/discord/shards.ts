/**
 * channels.discord.shards through discord.js's internal sharding: every shard a connection of this
 * one process (not ShardingManager's processes). `auto` lets discord.js take the count GET
 * /gateway/bot recommends; a number N runs shards 0..N-1 of N.
 * https://discord.com/developers/docs/events/gateway#sharding
 */
export type ShardSetting = 'auto' | number;

/** The discord.js Client options (`shards`, `shardCount`) for the setting. */
export function shardOptions(setting: ShardSetting): { shards: 'auto' } | { shards: number[]; shardCount: number } {
  if (setting === 'auto') return { shards: 'auto' };
  return { shards: Array.from({ length: setting }, (_, id) => id), shardCount: setting };
}

/** The shard Discord sends a guild's events to, `(guild_id >> 22) % num_shards`; DMs (no guild) go to shard 0. */
export function shardOfGuild(guildId: string | null, shardCount: number): number {
  return guildId === null ? 0 : Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
}

/** discord.js prefixes its debug lines with the shard they are about: `[WS => Shard 1] ...`. */
const DEBUG_SHARD = /^\[WS => Shard (\d+)\]/;

export function shardOfDebugLine(line: string): number | undefined {
  const match = DEBUG_SHARD.exec(line);
  return match ? Number(match[1]) : undefined;
}

/** ` on shard 1 (of 2)`, or nothing when the bot runs one shard: where a gateway problem is. */
export function onShards(ids: number[], shardCount: number): string {
  if (shardCount <= 1) return '';
  return ` on shard${ids.length > 1 ? 's' : ''} ${ids.join(', ')} (of ${shardCount})`;
}
