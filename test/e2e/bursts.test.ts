import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram, type FakeMessage } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

/** How far apart the user's messages go out: a person typing a thought in several short messages. */
const TYPING_GAP_MS = 100;

/**
 * With the default config a turn starts as soon as a message arrives; messages the same user sends
 * before anything of the answer shows cancel the LLM call and are answered together, in one turn;
 * once the answer shows, the next message is a turn of its own. Commands are never merged. The
 * real daemon, fake Telegram and the fake LLM.
 */
describe('bursts of messages answered as one turn, with no wait before an answer', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let daemon: Daemon;

  const replies = (chatId: number) => telegram.botMessages(chatId).map((m) => m.text);
  const waitForReplies = (chatId: number, n: number) => waitFor(() => replies(chatId).length >= n && replies(chatId), 15_000, `${n} replies in chat ${chatId}`);
  const history = (chatId: number) =>
    readFileSync(join(daemon.workspace, 'sessions', `telegram%3a${chatId}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { role: string; eventIds?: string[] });
  const eventId = (message: FakeMessage) => `telegram:${message.chat.id}:${message.message_id}`;

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    daemon = await Daemon.start({ config: fakesConfig({ llm, telegram }) });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  it('one message: the turn starts without waiting for more, and the answer goes out as soon as the model gives it', async () => {
    const chatId = 8100;
    const sentAt = Date.now();
    const message = telegram.userSays({ chatId, text: 'quick question' });
    const [reply] = await waitForReplies(chatId, 1);
    expect(reply).toBe('echo: quick question');
    const started = await daemon.waitForLog('turn started', (l) => l.eventId === eventId(message));
    expect(started).toMatchObject({ messages: 1, waitedMs: 0 }); // no timer between the message and the LLM call
    // far below the 1.5 s the turn used to wait for more messages
    expect(llm.requests.find((r) => r.messages.at(-1)?.content === 'quick question')!.at - sentAt).toBeLessThan(1_000);
  });

  it(`three messages ${TYPING_GAP_MS} ms apart while a 1 s model answers: one request left uncancelled, one reply holding all three`, async () => {
    const chatId = 8101;
    const before = llm.requests.length;
    llm.setLatency(1_000);
    const sent: FakeMessage[] = [];
    try {
      for (const text of ['I need a name', 'for a grey cat', 'who likes boxes']) {
        if (sent.length > 0) await delay(TYPING_GAP_MS); // the user's pace, not a wait for the daemon
        sent.push(telegram.userSays({ chatId, text }));
      }
      const [reply] = await waitForReplies(chatId, 1);
      expect(reply).toBe('echo: I need a name\n\nfor a grey cat\n\nwho likes boxes');
    } finally {
      llm.setLatency(0);
    }
    const requests = llm.requests.slice(before);
    const answered = requests.filter((r) => !r.unanswered);
    expect(answered).toHaveLength(1);
    expect(answered[0]!.messages.at(-1)).toEqual({ role: 'user', content: 'I need a name\n\nfor a grey cat\n\nwho likes boxes' });
    // each cancelled call had only the messages that had come by then
    const cancelled = requests.filter((r) => r.unanswered).map((r) => String(r.messages.at(-1).content));
    expect(cancelled.length).toBeLessThanOrEqual(2);
    for (const content of cancelled) expect(['I need a name', 'I need a name\n\nfor a grey cat']).toContain(content);
    await daemon.waitForLog('reply delivered', (l) => l.eventId === `${eventId(sent[0]!)}:reply`);
    expect(replies(chatId)).toHaveLength(1);
    // one user message in the history, answering all three events: a replay after a crash recognises any of them
    expect(history(chatId).filter((m) => m.role === 'user')).toEqual([expect.objectContaining({ eventIds: sent.map(eventId) })]);
    expect(history(chatId)).toHaveLength(2); // the cancelled calls left nothing
  });

  it('a message sent once the answer is showing is a turn of its own', async () => {
    const chatId = 8102;
    const before = llm.requests.length;
    const story = 'Once upon a time there was a grey cat who liked boxes, and this is the whole story.';
    llm.enqueue({ content: story, pieces: 6, pieceDelayMs: 400 });
    telegram.userSays({ chatId, text: 'tell me a story' });
    await waitFor(() => replies(chatId).length === 1, 10_000, 'the first draft of the story');
    expect(story.startsWith(replies(chatId)[0]!)).toBe(true);
    expect(replies(chatId)[0]).not.toBe(story);
    telegram.userSays({ chatId, text: 'a short one, please' });
    await waitFor(() => replies(chatId).length === 2 && replies(chatId)[0] === story && replies(chatId), 15_000, 'the story, then the second answer');
    expect(replies(chatId)).toEqual([story, 'echo: a short one, please']);
    expect(llm.requests.slice(before).map((r) => [r.unanswered, r.messages.at(-1).content])).toEqual([
      [false, 'tell me a story'],
      [false, 'a short one, please'],
    ]);
  });

  it('a command in the middle of a burst is not merged: it is answered on its own, in order', async () => {
    const chatId = 8103;
    const before = llm.requests.length;
    for (const text of ['first thought', '/session', 'second thought']) {
      if (text !== 'first thought') await delay(TYPING_GAP_MS);
      telegram.userSays({ chatId, text });
    }
    const answers = await waitForReplies(chatId, 3);
    expect(answers[0]).toBe('echo: first thought');
    expect(answers[1]).toMatch(/^Session: telegram:8103\nMessages: 2\n/);
    expect(answers[2]).toBe('echo: second thought');
    expect(llm.requests.slice(before).map((r) => r.messages.at(-1).content)).toEqual(['first thought', 'second thought']);
  });
});

describe('with agent.debounce_ms set, the answer also waits for the user to stop typing', () => {
  const DEBOUNCE_MS = 1_500;
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let daemon: Daemon;

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    daemon = await Daemon.start({ config: { ...fakesConfig({ llm, telegram }), agent: { debounce_ms: DEBOUNCE_MS } } });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  it('three messages 200 ms apart with an instant model: one request, after the last message plus the wait', async () => {
    const chatId = 8201;
    const sent: Array<{ message: FakeMessage; at: number }> = [];
    for (const text of ['I need a name', 'for a grey cat', 'who likes boxes']) {
      if (sent.length > 0) await delay(200); // the user's pace
      sent.push({ message: telegram.userSays({ chatId, text }), at: Date.now() });
    }
    const [reply] = await waitFor(() => telegram.botMessages(chatId).length > 0 && telegram.botMessages(chatId), 15_000, 'the reply');
    expect(reply!.text).toBe('echo: I need a name\n\nfor a grey cat\n\nwho likes boxes');
    expect(llm.requests).toHaveLength(1);
    expect(llm.requests[0]!.at - sent.at(-1)!.at).toBeGreaterThanOrEqual(DEBOUNCE_MS - 100);
    const started = await daemon.waitForLog('turn started', (l) => l.sessionId === `telegram:${chatId}`);
    expect(started).toMatchObject({ messages: 3, waitedMs: expect.any(Number) });
    expect(started.waitedMs as number).toBeGreaterThan(0);
  });
});
