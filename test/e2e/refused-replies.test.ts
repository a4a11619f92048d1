import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDiscord } from '../fakes/discord.ts';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Daemon, PROJECT_ROOT } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';
import { MESSAGES_ROUTE } from './discord-setup.ts';

const BLOCKED = { kind: 'refuse', code: 403, description: 'Forbidden: bot was blocked by the user' } as const;
const TOO_LONG = { kind: 'refuse', code: 400, description: 'Bad Request: message is too long' } as const;

/**
 * Replies a platform refuses for good, and messages too long for the model: each ends in a reply
 * or a dead letter, never in a reply left unacknowledged for the next start. The real daemon,
 * fake Telegram and Discord, fake LLM.
 */
describe('refused replies and oversized messages', () => {
  let telegram: FakeTelegram;
  let discord: FakeDiscord;
  let llm: FakeOpenAI;
  let daemon: Daemon;

  const texts = (chatId: number) => telegram.botMessages(chatId).map((m) => m.text);
  const deadLetters = () => {
    const file = join(daemon.workspace, '.mybot', 'dead-letters.jsonl');
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  };
  const status = () => spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'status', '--workspace', daemon.workspace], { cwd: PROJECT_ROOT, encoding: 'utf8' }).stdout;

  beforeAll(async () => {
    [telegram, discord, llm] = await Promise.all([FakeTelegram.start(), FakeDiscord.start(), FakeOpenAI.start()]);
    daemon = await Daemon.start({ config: fakesConfig({ llm, telegram, discord }) });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), discord?.close(), llm?.close()]);
  });

  it('Telegram: a reply refused with 400 "message is too long" arrives as plain text, in pieces of half the size', async () => {
    const chatId = 9101;
    const text = `**bold** ${'many words '.repeat(250)}`.trim();
    telegram.failNext('sendMessage', 1, TOO_LONG);
    const asked = telegram.userSays({ chatId, text });
    await daemon.waitForLog('reply delivered', (l) => l.eventId === `telegram:${chatId}:${asked.message_id}:reply`, 15_000);
    const sent = telegram.botMessages(chatId);
    expect(sent.length).toBe(2);
    for (const message of sent) {
      expect(message.text!.length).toBeLessThanOrEqual(2000);
      expect(message.entities).toBeUndefined(); // plain: the HTML form is what was refused
    }
    expect(sent[0]!.text!.startsWith('echo: **bold** many words')).toBe(true);
    expect(texts(chatId).join(' ').replace(/\s+/g, ' ')).toBe(`echo: ${text}`);
    expect(telegram.requests.filter((r) => r.method === 'sendMessage' && Number(r.params.chat_id) === chatId && r.params.parse_mode === undefined)).toHaveLength(2);
  });

  it('Telegram: a reply refused in every form lands in the dead letters, and the next message of the chat is answered', async () => {
    const chatId = 9102;
    telegram.failNext('sendMessage', 2, BLOCKED);
    const refused = telegram.userSays({ chatId, text: 'are you there?' });
    const replyId = `telegram:${chatId}:${refused.message_id}:reply`;
    await daemon.waitForLog(/refused the reply in every form/, (l) => l.eventId === replyId && l.sessionId === `telegram:${chatId}`, 15_000);
    const letter = await waitFor(() => deadLetters().find((d) => d.event.id === replyId), 5_000, 'the dead letter');
    expect(letter).toMatchObject({ reason: expect.stringContaining('403: Forbidden: bot was blocked by the user'), event: { content: 'echo: are you there?', sessionId: `telegram:${chatId}` } });
    expect(Date.parse(letter.at)).toBeGreaterThan(Date.now() - 60_000);
    telegram.userSays({ chatId, text: 'and now?' });
    await waitFor(() => texts(chatId).includes('echo: and now?'), 10_000, 'the next answer');
    expect(texts(chatId)).toEqual(['echo: and now?']);
    // the daemon rewrites its status every 2 s
    await waitFor(() => /given up on \(\.mybot\/dead-letters\.jsonl\): [1-9]/.test(status()), 10_000, 'the dead letter counted in npm run status');
  });

  it('Discord: a reply refused in every form lands in the dead letters, and the next message of the channel is answered', async () => {
    const dm = discord.dmChannelFor('555555555555555501', 'erin');
    discord.failNextRest(MESSAGES_ROUTE, 2, { kind: 'refuse', status: 403, code: 50007, message: 'Cannot send messages to this user' });
    const refused = discord.userSays({ channelId: dm.id, content: 'hello?' });
    const replyId = `discord:${dm.id}:${refused.id}:reply`;
    const letter = await waitFor(() => deadLetters().find((d) => d.event.id === replyId), 15_000, 'the dead letter');
    expect(letter.reason).toContain('50007');
    discord.userSays({ channelId: dm.id, content: 'still there?' });
    await waitFor(() => discord.sentMessages(dm.id).some((m) => m.content === 'echo: still there?'), 10_000, 'the next answer');
    expect(discord.sentMessages(dm.id).map((m) => m.content)).toEqual(['echo: still there?']);
  });

  it('nothing refused is tried again after a restart: the journal holds no reply', async () => {
    await daemon.kill('SIGTERM');
    const sendsBefore = telegram.requests.filter((r) => r.method === 'sendMessage').length;
    daemon = await Daemon.start({ config: fakesConfig({ llm, telegram, discord }), workspace: daemon.workspace });
    const replayed = daemon.hasLog('replaying events not acknowledged before the last stop');
    expect(replayed).toBeUndefined();
    telegram.userSays({ chatId: 9103, text: 'after the restart' });
    await waitFor(() => texts(9103).length === 1, 10_000, 'an answer after the restart');
    expect(telegram.requests.filter((r) => r.method === 'sendMessage').length - sendsBefore).toBe(1);
  });

  it('a 100 KB message is cut at agent.max_input_chars with a note before the model and the history see it', async () => {
    const chatId = 9104;
    const before = llm.requests.length;
    llm.enqueue({ content: 'got it' });
    const message = telegram.userSays({ chatId, text: 'y'.repeat(100_000) });
    await waitFor(() => texts(chatId).length > 0, 15_000, 'the answer');
    const sent = String(llm.requests.slice(before).find((r) => r.messages.at(-1)?.role === 'user')!.messages.at(-1).content);
    expect(sent.startsWith('y'.repeat(32_000) + '\n\n[…the message was cut here: it had 100,000 characters, more than the 32,000 I take at once]')).toBe(true);
    expect(sent.length).toBeLessThan(32_200);
    const history = readFileSync(join(daemon.workspace, 'sessions', `telegram%3a${chatId}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(history[0]).toMatchObject({ role: 'user', content: sent });
    expect(daemon.hasLog(/^message too long/, (l) => l.sessionId === `telegram:${chatId}` && l.eventId === `telegram:${chatId}:${message.message_id}`)).toMatchObject({ chars: 100_000, kept: 32_000 });
  });
});
