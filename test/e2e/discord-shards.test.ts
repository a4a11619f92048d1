import { describe, expect, it } from 'vitest';
import { shardOfGuild, type FakeDiscordOptions, type FakeMessage, type GuildRef } from '../fakes/discord.ts';
import { discordPerTest, type DiscordWorld } from './discord-setup.ts';

/**
 * channels.discord.shards through discord.js's internal sharding: one daemon, one gateway
 * connection per shard, each guild's messages on its own shard (the fake routes them as Discord
 * does: `(guild_id >> 22) % num_shards`, DMs on shard 0).
 */
describe('Discord with several gateway shards in one daemon', () => {
  const { start, spawn } = discordPerTest();
  let world: DiscordWorld | undefined;

  /** A fake Discord recommending two shards, with two guilds that land on different ones. */
  async function twoGuilds(options: FakeDiscordOptions = {}): Promise<{ world: DiscordWorld; guilds: GuildRef[] }> {
    world = await start({ recommendedShards: 2, maxConcurrency: 2, ...options });
    const first = { guildId: world.discord.guildId, textChannelId: world.discord.textChannelId };
    const second = world.discord.addGuild({ name: 'Second', onShard: [1 - shardOfGuild(first.guildId, 2), 2] });
    return { world, guilds: [first, second] };
  }

  const shardOf = (guild: GuildRef) => shardOfGuild(guild.guildId, 2);
  const mention = (guild: GuildRef, content: string) => world!.discord.userSays({ channelId: guild.textChannelId, content, mentionBot: true });

  it.each([
    ['2', 2],
    ['auto (Discord recommends 2)', 'auto'],
  ] as const)('with shards: %s it IDENTIFYs shards [0, 2] and [1, 2] and answers a mention in each guild, each on its shard', async (_name, shards) => {
    const { world, guilds } = await twoGuilds();
    const daemon = spawn(world.config({ shards }));
    await daemon.ready();
    expect(world.discord.gateway.identifies.map((identify) => identify.shard).sort()).toEqual([[0, 2], [1, 2]]);
    expect(daemon.hasLog('connected to Discord')?.['shards']).toBe(2);

    const messages = guilds.map((guild) => mention(guild, `hello guild ${guild.guildId}`));
    for (const [i, message] of messages.entries()) {
      expect((await world.replyTo(message)).content).toBe(`echo: hello guild ${guilds[i]!.guildId}`);
      expect(world.discord.gateway.shardsSent('MESSAGE_CREATE', message.id)).toEqual([shardOf(guilds[i]!)]);
    }
    expect(new Set(guilds.map(shardOf))).toEqual(new Set([0, 1]));
  });

  it("resumes the one shard whose connection dropped and answers its guild again; the other shard's connection is untouched", async () => {
    const { world, guilds } = await twoGuilds();
    const [stays, drops] = guilds as [GuildRef, GuildRef];
    const daemon = spawn(world.config({ shards: 2 }));
    await daemon.ready();
    await world.replyTo(mention(drops, 'before the drop'));
    const connections = world.discord.connections;

    world.discord.dropSockets(shardOf(drops));
    const during = mention(drops, 'while its shard was away');
    expect((await world.replyTo(during)).content).toBe('echo: while its shard was away');
    await daemon.waitForLog('gateway session resumed', (l) => l['shardId'] === shardOf(drops));
    expect((await world.replyTo(mention(drops, 'after the resume'))).content).toBe('echo: after the resume');
    expect((await world.replyTo(mention(stays, 'the other guild'))).content).toBe('echo: the other guild');

    expect(world.discord.resumeCount).toBe(1);
    expect(world.discord.identifyCount).toBe(2);
    expect(world.discord.connections).toBe(connections + 1);
    const reconnecting = daemon.lines.filter((l) => l.msg === 'gateway reconnecting').map((l) => l['shardId']);
    expect(reconnecting).toEqual([shardOf(drops)]);
    expect(daemon.hasLog('gateway session resumed', (l) => l['shardId'] === shardOf(stays))).toBeUndefined();
  });

  it("after a restart, catches each shard's guilds up when that shard is up, beside the other's, so a message sent before its IDENTIFY is answered", { timeout: 60_000 }, async () => {
    // max_concurrency 1: discord.js IDENTIFYs shard 1 five seconds after shard 0, as for most bots
    const { world, guilds } = await twoGuilds({ maxConcurrency: 1 });
    const [early, late] = [...guilds].sort((a, b) => shardOf(a) - shardOf(b)) as [GuildRef, GuildRef];
    const first = spawn(world.config({ shards: 2 }));
    await first.ready(30_000);
    for (const guild of guilds) await world.replyTo(mention(guild, `opening ${guild.guildId}`), 15_000);
    first.child.kill('SIGTERM');
    expect(await first.waitForExit()).toBe(0);

    const whileDown: FakeMessage[] = guilds.map((guild) => mention(guild, `missed in ${guild.guildId}`));
    const identified = world.discord.identifyCount;
    // shard 0's catch-up is still reading its channel when shard 1 comes up: shard 1 catches up on its own
    world.discord.failNextRest({ method: 'GET', path: new RegExp(`^/channels/${early.textChannelId}/messages$`) }, 1, { kind: 'slow', ms: 8_000 });
    const second = spawn(world.config({ shards: 2 }), first.workspace);
    await second.waitForLog('gateway session started', (l) => l['shardId'] === 0, 20_000);
    // shard 1 is not connected yet: this message reaches no gateway session, only the catch-up can find it
    expect(world.discord.identifyCount).toBe(identified + 1);
    // another user: one user's messages waiting together would be answered as one turn
    const beforeIdentify = world.discord.userSays({ channelId: late.textChannelId, content: 'sent before shard 1 identified', mentionBot: true, userId: world.discord.nextId(), username: 'carol' });
    await second.ready(30_000);

    for (const message of [...whileDown, beforeIdentify]) await world.replyTo(message, 15_000);
    const caughtUp = second.lines.filter((l) => l.msg === 'caught up on messages sent while the gateway session was down');
    expect(caughtUp.map((l) => [l['shardId'], l['missed']]).sort()).toEqual([
      [shardOf(early), 1],
      [shardOf(late), 2],
    ]);
    expect(world.discord.sentMessages(late.textChannelId).map((m) => m.content)).toEqual([
      `echo: opening ${late.guildId}`,
      `echo: missed in ${late.guildId}`,
      'echo: sent before shard 1 identified',
    ]);
  });

  it('exits 1 at start, pointing at channels.discord.shards, when Discord requires more shards than configured (close 4011)', async () => {
    world = await start({ requiredShards: 2 });
    const daemon = spawn(world.config());
    expect(await daemon.waitForExit()).toBe(1);
    expect(daemon.output).toContain('Discord closed the gateway with 4011 (sharding required)');
    expect(daemon.output).toContain('channels.discord.shards connections: set shards: auto');
  });
});
