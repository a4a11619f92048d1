import { afterEach, describe, expect, it } from 'vitest';
import { Client, Events, GatewayIntentBits, Partials, type ClientOptions } from 'discord.js';
import { FakeDiscord, shardOfGuild, type FakeDiscordOptions, type GuildRef } from './discord.ts';
import { waitFor } from '../helpers/wait.ts';

const INTENTS = [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent, GatewayIntentBits.DirectMessages];

interface Dispatch {
  t: string;
  shardId: number;
  d: Record<string, unknown>;
}

let fake: FakeDiscord | undefined;
const clients: Client[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.destroy()));
  await fake?.close();
  fake = undefined;
});

/** A fake recommending two shards, whose first guild and a second one land on different shards. */
async function twoShardWorld(opts: FakeDiscordOptions = {}): Promise<{ fake: FakeDiscord; first: GuildRef; second: GuildRef }> {
  fake = await FakeDiscord.start({ heartbeatIntervalMs: 500, recommendedShards: 2, maxConcurrency: 2, ...opts });
  const first = { guildId: fake.guildId, textChannelId: fake.textChannelId };
  const second = fake.addGuild({ name: 'Second', onShard: [1 - shardOfGuild(first.guildId, 2), 2] });
  return { fake, first, second };
}

function newClient(options: Partial<ClientOptions> = {}): { client: Client; dispatches: Dispatch[] } {
  const client = new Client({ intents: INTENTS, partials: [Partials.Channel], rest: { api: fake!.apiBase }, ...options });
  clients.push(client);
  const dispatches: Dispatch[] = [];
  client.on(Events.Raw, (packet: { t?: string; d?: Record<string, unknown> }, shardId: number) => {
    if (packet.t) dispatches.push({ t: packet.t, shardId, d: packet.d ?? {} });
  });
  return { client, dispatches };
}

async function login(client: Client): Promise<void> {
  let ready = false;
  client.once(Events.ClientReady, () => (ready = true));
  await client.login(fake!.token);
  await waitFor(() => ready, 15_000, 'ClientReady');
}

describe('the fake Discord gateway shards as Discord does', () => {
  it("recommends its shard count on GET /gateway/bot; each IDENTIFY's shard gets READY with it and only its own guilds", async () => {
    const { fake, first, second } = await twoShardWorld();
    const { client, dispatches } = newClient({ shards: 'auto' });
    await login(client);

    expect(fake.gateway.identifies.map((i) => i.shard).sort()).toEqual([[0, 2], [1, 2]]);
    const readies = dispatches.filter((d) => d.t === 'READY').sort((a, b) => a.shardId - b.shardId);
    expect(readies.map((r) => [r.shardId, r.d['shard'], (r.d['guilds'] as Array<{ id: string }>).map((g) => g.id)])).toEqual(
      [first, second].map((g) => [shardOfGuild(g.guildId, 2), [shardOfGuild(g.guildId, 2), 2], [g.guildId]]).sort((a, b) => Number(a[0]) - Number(b[0])),
    );
    for (const { guildId } of [first, second]) {
      const creates = dispatches.filter((d) => d.t === 'GUILD_CREATE' && d.d['id'] === guildId);
      expect(creates.map((c) => c.shardId)).toEqual([shardOfGuild(guildId, 2)]);
      expect(client.guilds.cache.get(guildId)?.shardId).toBe(shardOfGuild(guildId, 2));
    }
    expect(client.ws.shards.size).toBe(2);
  });

  it("dispatches a guild's MESSAGE_CREATE on its shard's connection only, and DMs on shard 0", async () => {
    const { fake, first, second } = await twoShardWorld();
    const { client, dispatches } = newClient({ shards: [0, 1], shardCount: 2 });
    await login(client);
    const sent = [first, second].map((g) => fake.userSays({ channelId: g.textChannelId, content: `in ${g.guildId}`, mentionBot: true }));
    const dm = fake.userSays({ channelId: fake.dmChannelFor('222222222222222222', 'dana').id, content: 'in private' });
    await waitFor(() => dispatches.filter((d) => d.t === 'MESSAGE_CREATE').length === 3, 5_000, 'three messages');

    const shardsOf = (id: string) => dispatches.filter((d) => d.t === 'MESSAGE_CREATE' && d.d['id'] === id).map((d) => d.shardId);
    expect(shardsOf(sent[0]!.id)).toEqual([shardOfGuild(first.guildId, 2)]);
    expect(shardsOf(sent[1]!.id)).toEqual([shardOfGuild(second.guildId, 2)]);
    expect(shardsOf(dm.id)).toEqual([0]);
  });

  it('RESUMEs the one shard whose connection was dropped and replays what its guild got meanwhile; the other shard keeps its connection', async () => {
    const { fake, first, second } = await twoShardWorld();
    const { client, dispatches } = newClient({ shards: 'auto' });
    await login(client);
    const dropped = shardOfGuild(second.guildId, 2);
    const resumed: number[] = [];
    client.on(Events.ShardResume, (shardId) => resumed.push(shardId));

    fake.dropSockets(dropped);
    const meanwhile = fake.userSays({ channelId: second.textChannelId, content: 'while shard was away' });
    const elsewhere = fake.userSays({ channelId: first.textChannelId, content: 'on the other shard' });
    await waitFor(() => resumed.length === 1, 10_000, 'the RESUME of the dropped shard');
    await waitFor(() => dispatches.some((d) => d.t === 'MESSAGE_CREATE' && d.d['id'] === meanwhile.id), 5_000, 'the replayed message');

    expect(resumed).toEqual([dropped]);
    expect(fake.resumeCount).toBe(1);
    expect(fake.identifyCount).toBe(2);
    expect(fake.connections).toBe(3);
    expect(dispatches.find((d) => d.d['id'] === meanwhile.id)?.shardId).toBe(dropped);
    expect(dispatches.find((d) => d.d['id'] === elsewhere.id)?.shardId).toBe(1 - dropped);
  });

  it('closes 4011 when the bot identifies with fewer shards than Discord requires, and 4010 for a shard id out of range', async () => {
    fake = await FakeDiscord.start({ heartbeatIntervalMs: 500, requiredShards: 2 });
    const closes: number[] = [];
    const { client: unsharded } = newClient();
    unsharded.on(Events.ShardDisconnect, (event) => closes.push(event.code));
    await expect(unsharded.login(fake.token)).rejects.toThrow();

    const { client: outOfRange } = newClient({ shards: [2], shardCount: 2 });
    outOfRange.on(Events.ShardDisconnect, (event) => closes.push(event.code));
    await expect(outOfRange.login(fake.token)).rejects.toThrow();
    expect(closes).toEqual([4011, 4010]);
    expect(fake.identifyCount).toBe(0);
  });
});
