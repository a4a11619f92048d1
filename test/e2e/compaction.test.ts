import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI, type FakeRequest } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { chatRequests, isSummaryRequest } from '../helpers/llm-requests.ts';
import { waitFor } from '../helpers/wait.ts';

/** ~300 tokens each by the daemon's estimate: a few of them fill a 3,600-token window. */
const topic = (i: number) => `topic ${i}: ${'lorem ipsum dolor sit amet '.repeat(44).trim()}`;
const textOf = (request: FakeRequest) => request.messages.map((m) => String(m.content ?? '')).join('\n');

/**
 * Compaction through the real daemon, fake Telegram and the fake LLM, with a small
 * llm.context_window: the older turns become one summary at the head of the session, the JSONL
 * history keeps every message, and a restart resumes from the summary.
 */
describe('compaction of long conversations', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let workspace: string;
  let daemon: Daemon;
  let summaries = 0;
  let failSummaries = false;

  const config = () => {
    const base = fakesConfig({ llm, telegram }) as { llm: Record<string, unknown> };
    // the system prompt and the tool specs take ~1,400 tokens of every request (memory and schedules brought ~650 of them)
    return { ...base, llm: { ...base.llm, context_window: 3_600 } };
  };
  /** Sends a message and waits for its answer. */
  const say = async (chatId: number, text: string): Promise<string> => {
    const before = telegram.botMessages(chatId).length;
    telegram.userSays({ chatId, text });
    const replies = await waitFor(() => telegram.botMessages(chatId).length > before && telegram.botMessages(chatId), 15_000, `the answer to "${text.slice(0, 20)}"`);
    return replies.at(-1)!.text ?? '';
  };
  const sessionFile = (chatId: number) => join(workspace, 'sessions', `telegram%3a${chatId}.jsonl`);

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    llm.setResponder((req) => {
      if (isSummaryRequest(req)) {
        if (failSummaries) return { fault: 'status', status: 500 };
        const topics = [...String(req.messages[1]?.content).matchAll(/topic \d+/g)].map((m) => m[0]);
        return { content: `SUMMARY ${++summaries}: the user talked about ${topics.join(', ')}` };
      }
      const last = String(req.messages.at(-1)?.content);
      return { content: `noted ${/topic \d+/.exec(last)?.[0] ?? last.slice(0, 40)}` };
    });
    daemon = await Daemon.start({ config: config() });
    workspace = daemon.workspace;
  });

  afterAll(async () => {
    await daemon?.kill();
    rmSync(workspace, { recursive: true, force: true });
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  it('summarises the older turns near llm.context_window, and resumes from the summary after a restart', async () => {
    const chatId = 7101;
    let sent = 0;
    while (!llm.requests.some(isSummaryRequest)) {
      expect(sent, 'messages sent before the first compaction').toBeLessThan(12);
      expect(await say(chatId, topic(sent))).toBe(`noted topic ${sent}`);
      sent++;
    }
    const at = llm.requests.findIndex(isSummaryRequest);
    const summary = llm.requests[at]!;
    expect(summary.messages).toHaveLength(2);
    expect(String(summary.messages[1].content)).toContain('topic 0:');
    expect(summary.body.tools).toBeUndefined();
    // the turn that asked for it: the summary at the head, the oldest turns gone, the new message last
    const next = llm.requests[at + 1]!;
    expect(next.messages[0].role).toBe('system');
    expect(next.messages[1]).toMatchObject({ role: 'system', content: expect.stringContaining('SUMMARY 1: the user talked about topic 0') });
    expect(textOf(next)).not.toContain('topic 0:');
    expect(next.messages.at(-1)).toMatchObject({ role: 'user', content: topic(sent - 1) });
    await daemon.waitForLog('session compacted: older messages summarised', (l) => l.sessionId === `telegram:${chatId}`);

    expect(await daemon.kill('SIGTERM')).toBe(0);
    daemon = await Daemon.start({ config: config(), workspace });
    const before = llm.requests.length;
    expect(await say(chatId, 'what did we talk about?')).toBe('noted what did we talk about?');
    const resumed = chatRequests(llm.requests.slice(before));
    expect(resumed).toHaveLength(1);
    expect(resumed[0]!.messages[1]).toMatchObject({ role: 'system', content: expect.stringContaining('SUMMARY 1:') });
    expect(textOf(resumed[0]!)).not.toContain('topic 0:');
    expect(textOf(resumed[0]!)).toContain(`topic ${sent - 1}:`);

    // the history file keeps every message; the compaction is one marker line with the summary
    const lines = readFileSync(sessionFile(chatId), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const users = lines.filter((l) => l.role === 'user').map((l) => l.content);
    expect(users).toEqual([...Array.from({ length: sent }, (_, i) => topic(i)), 'what did we talk about?']);
    expect(lines.filter((l) => l.type === 'summary')).toEqual([expect.objectContaining({ content: expect.stringContaining('SUMMARY 1:'), kept: expect.any(Number) })]);
  });

  it('/compact condenses the conversation on demand; the next turn starts from the summary', async () => {
    const chatId = 7102;
    await say(chatId, 'my name is Ada');
    await say(chatId, 'I like tea');
    const before = llm.requests.length;
    expect(await say(chatId, '/compact')).toBe('Condensed 2 earlier messages into a summary; the last 2 stay as they were.');
    expect(llm.requests.slice(before).filter(isSummaryRequest)).toHaveLength(1);
    expect(String(llm.requests.at(-1)!.messages[1].content)).toContain('User: my name is Ada');
    await say(chatId, 'and now?');
    const next = llm.requests.at(-1)!;
    expect(next.messages.map((m) => m.role)).toEqual(['system', 'system', 'user', 'assistant', 'user']);
    expect(next.messages[1].content).toMatch(/^Summary of the earlier conversation.*\nSUMMARY \d+:/);
    expect(textOf(next)).not.toContain('my name is Ada');
    expect(textOf(next)).toContain('I like tea');
    expect(await say(chatId, '/help')).toContain('/compact — Condense the older messages into a summary');
  });

  it('a failed summary loses nothing: the message is answered with the whole window, and the failure logged', async () => {
    const chatId = 7103;
    failSummaries = true;
    try {
      let sent = 0;
      while (!daemon.hasLog('compaction failed; answering with the whole window')) {
        expect(sent, 'messages sent before a compaction was tried').toBeLessThan(12);
        expect(await say(chatId, topic(sent))).toBe(`noted topic ${sent}`);
        sent++;
      }
      const answered = chatRequests(llm.requests).at(-1)!;
      expect(answered.messages.at(-1)!.content).toBe(topic(sent - 1));
      expect(textOf(answered)).toContain('topic 0:');
      expect(readFileSync(sessionFile(chatId), 'utf8')).not.toContain('"type":"summary"');
    } finally {
      failSummaries = false;
    }
  });
});
