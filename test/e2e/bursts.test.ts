import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram, type FakeMessage } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

const DEBOUNCE_MS = 1_500;
/** How far apart the user's messages go out: a person typing a thought in several short messages. */
const TYPING_GAP_MS = 200;

/**
 * Messages sent in quick succession, or while the agent is still answering, become one turn: one
 * LLM request holding them all in order, one reply. Commands are never merged. The real daemon,
 * fake Telegram and the fake LLM, with agent.debounce_ms at its default.
 */
describe('bursts of messages answered as one turn', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let daemon: Daemon;

  const lastUser = (i: number) => llm.requests[i]!.messages.at(-1);
  const replies = (chatId: number) => telegram.botMessages(chatId).map((m) => m.text);
  const waitForReplies = (chatId: number, n: number) => waitFor(() => replies(chatId).length >= n && replies(chatId), 15_000, `${n} replies in chat ${chatId}`);

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    const config = fakesConfig({ llm, telegram });
    daemon = await Daemon.start({ config: { ...config, agent: { debounce_ms: DEBOUNCE_MS } } });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  it(`three messages ${TYPING_GAP_MS} ms apart make one LLM request with all three, in order, and one reply`, async () => {
    const chatId = 8101;
    const before = llm.requests.length;
    const sent: Array<{ message: FakeMessage; at: number }> = [];
    for (const text of ['I need a name', 'for a grey cat', 'who likes boxes']) {
      if (sent.length > 0) await delay(TYPING_GAP_MS); // the user's pace, not a wait for the daemon
      sent.push({ message: telegram.userSays({ chatId, text }), at: Date.now() });
    }
    const [reply] = await waitForReplies(chatId, 1);
    expect(reply).toBe('echo: I need a name\n\nfor a grey cat\n\nwho likes boxes');
    expect(llm.requests.length - before).toBe(1);
    expect(lastUser(before)).toEqual({ role: 'user', content: 'I need a name\n\nfor a grey cat\n\nwho likes boxes' });
    // the turn waited for the user to stop typing
    expect(llm.requests[before]!.at - sent.at(-1)!.at).toBeGreaterThanOrEqual(DEBOUNCE_MS - 100);
    const done = await daemon.waitForLog('turn done', (l) => l.sessionId === `telegram:${chatId}`);
    expect(done).toMatchObject({ messages: 3, eventId: `telegram:${chatId}:${sent[0]!.message.message_id}` });
    // one user message in the history, answering all three events: a replay after a crash recognises any of them
    const history = readFileSync(join(daemon.workspace, 'sessions', `telegram%3a${chatId}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(history.filter((m) => m.role === 'user')).toEqual([
      expect.objectContaining({ eventIds: sent.map((s) => `telegram:${chatId}:${s.message.message_id}`) }),
    ]);
    await daemon.waitForLog('reply delivered', (l) => l.eventId === `telegram:${chatId}:${sent[0]!.message.message_id}:reply`);
    expect(replies(chatId)).toHaveLength(1);
  });

  it('a command in the middle of a burst is not merged: it is answered on its own, in order', async () => {
    const chatId = 8102;
    const before = llm.requests.length;
    for (const text of ['first thought', '/session', 'second thought']) {
      if (text !== 'first thought') await delay(TYPING_GAP_MS);
      telegram.userSays({ chatId, text });
    }
    const answers = await waitForReplies(chatId, 3);
    expect(answers[0]).toBe('echo: first thought');
    expect(answers[1]).toMatch(/^Session: telegram:8102\nMessages: 2\n/);
    expect(answers[2]).toBe('echo: second thought');
    expect(llm.requests.slice(before).map((r) => r.messages.at(-1).content)).toEqual(['first thought', 'second thought']);
  });

  it('messages sent while a slow LLM answers are merged into the next turn', async () => {
    const chatId = 8103;
    const before = llm.requests.length;
    llm.enqueue({ content: 'a slow answer', delayMs: 2_000 });
    telegram.userSays({ chatId, text: 'think about this' });
    await llm.waitForRequests(before + 1, 10_000);
    telegram.userSays({ chatId, text: 'oh, and also this' });
    telegram.userSays({ chatId, text: 'and this' });
    const answers = await waitForReplies(chatId, 2);
    expect(answers).toEqual(['a slow answer', 'echo: oh, and also this\n\nand this']);
    expect(llm.requests.length - before).toBe(2);
    // the merged turn follows the first in the history the model sees
    expect(llm.requests[before + 1]!.messages.slice(1).map((m: { content: string }) => m.content)).toEqual([
      'think about this',
      'a slow answer',
      'oh, and also this\n\nand this',
    ]);
  });
});
