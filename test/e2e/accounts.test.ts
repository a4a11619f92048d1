import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { REFUSAL_TEXT } from '../../src/channels/access.ts';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { OPEN_ACCESS } from '../helpers/config.ts';
import { cleanUpAfterEach } from '../helpers/cleanup.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';
import { DiscordWorld } from './discord-setup.ts';

const GROUP = -1_001_555_000_001;
const ALICE = 4_401;
const BOB = 4_402;

describe('several bot accounts per platform (channels.*.accounts.<name>)', () => {
  const { daemon: keep, later } = cleanUpAfterEach();

  it('two Telegram bots in one group answer as two sessions, each with its own access rules', async () => {
    // one fake Bot API server per bot: each token sees only its own updates, as on Telegram
    const [home, work, llm] = await Promise.all([
      FakeTelegram.start({ botUsername: 'home_bot', botId: 7_000_000_101 }),
      FakeTelegram.start({ botUsername: 'work_bot', botId: 7_000_000_202 }),
      FakeOpenAI.start(),
    ]);
    later(() => home.close(), () => work.close(), () => llm.close());
    const daemon = await Daemon.start({
      config: {
        llm: { api_base: llm.url, model: 'fake', max_retries: 0 },
        agent: { debounce_ms: 0 },
        channels: {
          telegram: {
            enabled: true,
            bot_token: home.token,
            api_root: home.apiRoot,
            ...OPEN_ACCESS,
            accounts: { work: { bot_token: work.token, api_root: work.apiRoot, allowed_user_ids: [ALICE] } },
          },
        },
      },
    });
    keep(daemon);
    expect(daemon.hasLog('mybot is up')?.channels).toEqual(['telegram', 'telegram.work']);

    // one message in the group, addressed to both bots: each bot receives it
    for (const bot of [home, work]) bot.userSays({ chatId: GROUP, userId: ALICE, text: '@home_bot @work_bot remember the number 7' });
    await waitFor(() => home.botMessages(GROUP).length === 1 && work.botMessages(GROUP).length === 1, 10_000, 'one reply from each bot');
    for (const bot of [home, work]) bot.userSays({ chatId: GROUP, userId: ALICE, text: `@${bot.bot.username} what did I say?` });
    await waitFor(() => home.botMessages(GROUP).length === 2 && work.botMessages(GROUP).length === 2, 10_000, 'a second reply from each bot');

    const sessions = (bot: string) => daemon.lines.filter((l) => l.msg === 'message received' && l.account === bot).map((l) => l.sessionId);
    expect(new Set(daemon.lines.filter((l) => l.msg === 'message received').map((l) => l.sessionId))).toEqual(new Set([`telegram:${GROUP}`, `telegram.work:${GROUP}`]));
    expect(sessions('work')).toEqual([`telegram.work:${GROUP}`, `telegram.work:${GROUP}`]);
    // each conversation's history holds its own turns only: one earlier user message, not two
    const followUps = llm.requests.filter((r) => String(r.messages.at(-1)?.content).includes('what did I say'));
    expect(followUps).toHaveLength(2);
    for (const request of followUps) expect(request.messages.filter((m) => m.role === 'user').map((m) => m.content)).toHaveLength(2);

    // the work bot answers only its allowlist; the home bot is open
    for (const bot of [home, work]) bot.userSays({ chatId: BOB, text: 'hi, I am Bob' });
    await waitFor(() => home.botMessages(BOB).length === 1 && work.botMessages(BOB).length === 1, 10_000, 'both bots answer Bob');
    expect(home.botMessages(BOB)[0]!.text).toBe('echo: hi, I am Bob');
    expect(work.botMessages(BOB)[0]!.text).toBe(REFUSAL_TEXT);
  });

  it('an account added to config.user.yaml while the daemon runs starts alone; removing it stops it', async () => {
    const [home, work, llm] = await Promise.all([FakeTelegram.start(), FakeTelegram.start({ botUsername: 'work_bot', botId: 7_000_000_303 }), FakeOpenAI.start()]);
    later(() => home.close(), () => work.close(), () => llm.close());
    const telegram = { enabled: true, bot_token: home.token, api_root: home.apiRoot, ...OPEN_ACCESS };
    const config = { llm: { api_base: llm.url, model: 'fake', max_retries: 0 }, agent: { debounce_ms: 0 }, channels: { telegram } };
    const daemon = await Daemon.start({ config });
    keep(daemon);
    const withWork = { ...config, channels: { telegram: { ...telegram, accounts: { work: { bot_token: work.token, api_root: work.apiRoot, ...OPEN_ACCESS } } } } };
    writeFileSync(join(daemon.workspace, 'config.user.yaml'), stringify(withWork));
    await daemon.waitForLog('channel started with the new config', (l) => l.channel === 'telegram.work');
    work.userSays({ chatId: BOB, text: 'hello work' });
    await waitFor(() => work.botMessages(BOB).length === 1, 10_000, 'the new account answers');
    // the default account was not restarted: one getMe
    expect(home.requests.filter((r) => r.method === 'getMe')).toHaveLength(1);
    writeFileSync(join(daemon.workspace, 'config.user.yaml'), stringify(config));
    await daemon.waitForLog('channel stopped for a config change', (l) => l.channel === 'telegram.work');
  });

  it('a second Discord account runs as discord.<name>, with its own sessions and catch-up cursors', async () => {
    const main = await DiscordWorld.start({ token: 'main-discord-token' });
    const other = await DiscordWorld.start({ token: 'other-discord-token' });
    later(() => main.close(), () => other.close());
    const config = main.config();
    (config.channels as { discord: Record<string, unknown> }).discord.accounts = { other: { bot_token: other.discord.token, api_base: other.discord.apiBase, ...OPEN_ACCESS } };
    const daemon = await Daemon.start({ config });
    keep(daemon);
    const message = other.discord.userSays({ content: 'hello other', mentionBot: true });
    const reply = await waitFor(() => other.repliesTo(message)[0], 10_000, 'the other bot answers');
    expect(reply.content).toBe('echo: hello other');
    await daemon.waitForLog('reply delivered', (l) => l.eventId === `discord.other:${message.channel_id}:${message.id}:reply` && l.sessionId === `discord.other:${message.channel_id}`);
    await waitFor(() => existsSync(join(daemon.workspace, '.mybot', 'discord-cursors.other.json')), 5_000, 'the account cursors file');
  });
});
