import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../helpers/daemon.ts';
import { daemonOnAllFakes } from '../helpers/all-fakes.ts';
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
  const world = daemonOnAllFakes();

  const texts = (chatId: number) => world.telegram.botMessages(chatId).map((m) => m.text);
  const deadLetters = () => {
    const file = join(world.daemon.workspace, '.mybot', 'dead-letters.jsonl');
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  };
  const status = () => spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'status', '--workspace', world.daemon.workspace], { cwd: PROJECT_ROOT, encoding: 'utf8' }).stdout;

  it('Telegram: a reply refused with 400 "message is too long" arrives as plain text, in pieces of half the size', async () => {
    const chatId = 9101;
    const text = `**bold** ${'many words '.repeat(250)}`.trim();
    world.telegram.failNext('sendMessage', 1, TOO_LONG);
    const asked = world.telegram.userSays({ chatId, text });
    await world.daemon.waitForLog('reply delivered', (l) => l.eventId === `telegram:${chatId}:${asked.message_id}:reply`, 15_000);
    const sent = world.telegram.botMessages(chatId);
    expect(sent.length).toBe(2);
    for (const message of sent) {
      expect(message.text!.length).toBeLessThanOrEqual(2000);
      expect(message.entities).toBeUndefined(); // plain: the HTML form is what was refused
    }
    expect(sent[0]!.text!.startsWith('echo: **bold** many words')).toBe(true);
    expect(texts(chatId).join(' ').replace(/\s+/g, ' ')).toBe(`echo: ${text}`);
    expect(world.telegram.requests.filter((r) => r.method === 'sendMessage' && Number(r.params.chat_id) === chatId && r.params.parse_mode === undefined)).toHaveLength(2);
  });

  it('Telegram: a reply refused in every form lands in the dead letters, and the next message of the chat is answered', async () => {
    const chatId = 9102;
    world.telegram.failNext('sendMessage', 2, BLOCKED);
    const refused = world.telegram.userSays({ chatId, text: 'are you there?' });
    const replyId = `telegram:${chatId}:${refused.message_id}:reply`;
    await world.daemon.waitForLog(/refused the reply in every form/, (l) => l.eventId === replyId && l.sessionId === `telegram:${chatId}`, 15_000);
    const letter = await waitFor(() => deadLetters().find((d) => d.event.id === replyId), 5_000, 'the dead letter');
    expect(letter).toMatchObject({ reason: expect.stringContaining('403: Forbidden: bot was blocked by the user'), event: { content: 'echo: are you there?', sessionId: `telegram:${chatId}` } });
    expect(Date.parse(letter.at)).toBeGreaterThan(Date.now() - 60_000);
    world.telegram.userSays({ chatId, text: 'and now?' });
    await waitFor(() => texts(chatId).includes('echo: and now?'), 10_000, 'the next answer');
    expect(texts(chatId)).toEqual(['echo: and now?']);
    // the daemon rewrites its status every 2 s
    await waitFor(() => /given up on \(\.mybot\/dead-letters\.jsonl\): [1-9]/.test(status()), 10_000, 'the dead letter counted in npm run status');
  });

  it('Discord: a reply refused in every form lands in the dead letters, and the next message of the channel is answered', async () => {
    const dm = world.discord.dmChannelFor('555555555555555501', 'erin');
    world.discord.failNextRest(MESSAGES_ROUTE, 2, { kind: 'refuse', status: 403, code: 50007, message: 'Cannot send messages to this user' });
    const refused = world.discord.userSays({ channelId: dm.id, content: 'hello?' });
    const replyId = `discord:${dm.id}:${refused.id}:reply`;
    const letter = await waitFor(() => deadLetters().find((d) => d.event.id === replyId), 15_000, 'the dead letter');
    expect(letter.reason).toContain('50007');
    world.discord.userSays({ channelId: dm.id, content: 'still there?' });
    await waitFor(() => world.discord.sentMessages(dm.id).some((m) => m.content === 'echo: still there?'), 10_000, 'the next answer');
    expect(world.discord.sentMessages(dm.id).map((m) => m.content)).toEqual(['echo: still there?']);
  });

  it('nothing refused is tried again after a restart: the journal holds no reply', async () => {
    const sendsBefore = world.telegram.requests.filter((r) => r.method === 'sendMessage').length;
    await world.restart('SIGTERM');
    const replayed = world.daemon.hasLog('replaying events not acknowledged before the last stop');
    expect(replayed).toBeUndefined();
    world.telegram.userSays({ chatId: 9103, text: 'after the restart' });
    await waitFor(() => texts(9103).length === 1, 10_000, 'an answer after the restart');
    expect(world.telegram.requests.filter((r) => r.method === 'sendMessage').length - sendsBefore).toBe(1);
  });

  it('a 100 KB message is cut at agent.max_input_chars with a note before the model and the history see it', async () => {
    const chatId = 9104;
    const before = world.llm.requests.length;
    world.llm.enqueue({ content: 'got it' });
    const message = world.telegram.userSays({ chatId, text: 'y'.repeat(100_000) });
    await waitFor(() => texts(chatId).length > 0, 15_000, 'the answer');
    const sent = String(world.llm.requests.slice(before).find((r) => r.messages.at(-1)?.role === 'user')!.messages.at(-1).content);
    expect(sent.startsWith('y'.repeat(32_000) + '\n\n[…the message was cut here: it had 100,000 characters, more than the 32,000 I take at once]')).toBe(true);
    expect(sent.length).toBeLessThan(32_200);
    const history = readFileSync(join(world.daemon.workspace, 'sessions', `telegram%3a${chatId}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(history[0]).toMatchObject({ role: 'user', content: sent });
    expect(world.daemon.hasLog(/^message too long/, (l) => l.sessionId === `telegram:${chatId}` && l.eventId === `telegram:${chatId}:${message.message_id}`)).toMatchObject({ chars: 100_000, kept: 32_000 });
  });
});
