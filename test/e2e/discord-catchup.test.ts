import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeMessage } from '../fakes/discord.ts';
import { Daemon } from '../helpers/daemon.ts';
import { DiscordWorld } from './discord-setup.ts';

const HOUR_MS = 3_600_000;

/**
 * Discord replays nothing to a new gateway session: what users wrote while the daemon was down is
 * fetched (`GET /channels/{id}/messages?after=`) in the channels and DMs the bot served, and
 * answered once, oldest first, unless older than channels.discord.catch_up_max_age_s.
 */
describe('Discord catch-up after a restart, end to end against the fake Discord', () => {
  let world: DiscordWorld;
  const daemons: Daemon[] = [];
  const start = async (workspace?: string): Promise<Daemon> => {
    const daemon = Daemon.spawn({ config: world.config(), ...(workspace ? { workspace } : {}) });
    daemons.push(daemon);
    await daemon.ready();
    return daemon;
  };
  const askedAbout = (text: string) => world.llm.requests.filter((r) => r.messages.at(-1)?.content === text).length;

  beforeAll(async () => {
    world = await DiscordWorld.start();
  });

  afterAll(async () => {
    for (const daemon of daemons) await daemon.dispose();
    await world?.close();
  });

  it('answers the mentions sent while it was stopped once, in order, but not one older than catch_up_max_age_s', { timeout: 60_000 }, async () => {
    const { discord } = world;
    const dm = discord.dmChannelFor(discord.nextId(), 'bob');
    const first = await start();
    // served before the stop: the channel's first message is from three hours ago, so a later one can be two hours old
    const opener = discord.userSays({ content: 'opening the channel', mentionBot: true, at: Date.now() - 3 * HOUR_MS });
    const dmOpener = discord.userSays({ channelId: dm.id, content: 'hello in private' });
    await world.replyTo(opener);
    await world.replyTo(dmOpener);
    first.child.kill('SIGTERM');
    expect(await first.waitForExit()).toBe(0);

    const tooOld = discord.userSays({ content: 'two hours ago', mentionBot: true, at: Date.now() - 2 * HOUR_MS });
    const missed: FakeMessage[] = [
      discord.userSays({ content: 'missed one', mentionBot: true }),
      discord.userSays({ channelId: dm.id, content: 'missed two' }),
      discord.userSays({ content: 'chatter, not for the bot' }),
      // another user: one user's messages waiting together would be answered as one turn
      discord.userSays({ content: 'missed three', mentionBot: true, userId: discord.nextId(), username: 'carol' }),
    ];
    const addressed = missed.filter((m) => m.content !== 'chatter, not for the bot');

    const second = await start(first.workspace);
    for (const message of addressed) await world.replyTo(message, 15_000);
    await second.waitForLog('caught up on messages sent while the gateway session was down', (l) => l['missed'] === 3);
    const general = discord.sentMessages(discord.textChannelId).map((m) => m.content);
    expect(general).toEqual(['echo: opening the channel', 'echo: missed one', 'echo: missed three']);
    expect(discord.sentMessages(dm.id).map((m) => m.content)).toEqual(['echo: hello in private', 'echo: missed two']);
    expect(world.repliesTo(tooOld)).toEqual([]);
    expect(askedAbout('two hours ago')).toBe(0);
    expect(askedAbout('chatter, not for the bot')).toBe(0);
    // the reads start at the last message handled (here the bot's own reply), or at the age limit when that is older
    const firstRead = (channelId: string) => BigInt(discord.requests.find((r) => r.method === 'GET' && r.path === `/channels/${channelId}/messages`)!.query['after']!);
    expect(firstRead(dm.id)).toBe(BigInt(discord.sentMessages(dm.id)[0]!.id));
    expect(firstRead(discord.textChannelId)).toBeGreaterThan(BigInt(tooOld.id));
    expect(firstRead(discord.textChannelId)).toBeLessThan(BigInt(missed[0]!.id));

    // killed before the cursors may have been saved: the next start fetches again, and answers nothing twice
    await second.kill('SIGKILL');
    const third = await start(first.workspace);
    await third.waitForLog('caught up on messages sent while the gateway session was down');
    const barrier = discord.userSays({ content: 'still there?', mentionBot: true });
    const dmBarrier = discord.userSays({ channelId: dm.id, content: 'and here?' });
    await world.replyTo(barrier);
    await world.replyTo(dmBarrier);
    for (const message of addressed) {
      expect(world.repliesTo(message), message.content).toHaveLength(1);
      expect(askedAbout(message.content.replace(/^<@\d+> /, '')), message.content).toBe(1);
    }
    expect(discord.sentMessages(discord.textChannelId).map((m) => m.content)).toEqual([...general, 'echo: still there?']);
  });
});
