import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentWorker } from '../../../src/agent/agent-worker.ts';
import { DraftPublisher } from '../../../src/agent/drafts.ts';
import type { ChatMessage, Llm, LlmReply, OnText } from '../../../src/agent/llm.ts';
import { JsonlSessionStore } from '../../../src/agent/sessions.ts';
import { ToolRegistry } from '../../../src/agent/tools/registry.ts';
import { defineTool } from '../../../src/agent/tools/tool.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { LlmError } from '../../../src/core/errors.ts';
import { createEvent, DraftEvent, OutboundEvent, type InboundEvent } from '../../../src/core/events.ts';
import { Journal } from '../../../src/core/journal.ts';
import { LocalBus } from '../../../src/core/local-bus.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { waitFor } from '../../helpers/wait.ts';

/** One LLM call the test answers when it wants; a cancelled one rejects as the real client does. */
interface Call {
  messages: ChatMessage[];
  onText?: OnText;
  cancelled: boolean;
  answer(reply: Partial<LlmReply>): void;
}

const dirs: string[] = [];
const journals: Journal[] = [];
afterEach(() => {
  for (const journal of journals.splice(0)) journal.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function rig(agent: Record<string, unknown> = {}, options: { firstDraftAfterMs?: number; tools?: ToolRegistry } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-cancel-'));
  dirs.push(dir);
  const { logger, lines } = memoryLogger();
  const journal = new Journal(join(dir, 'journal.jsonl'), { log: logger });
  journals.push(journal);
  const bus = new LocalBus({ log: logger, journal });
  const sessions = new JsonlSessionStore(dir, () => 40, logger);
  const calls: Call[] = [];
  const llm: Llm = {
    chat(messages, _tools, signal, onText) {
      return new Promise<LlmReply>((resolve, reject) => {
        const call: Call = { messages: [...messages], ...(onText ? { onText } : {}), cancelled: false, answer: (reply) => resolve({ content: null, toolCalls: [], ...reply }) };
        signal?.addEventListener('abort', () => {
          call.cancelled = true;
          reject(new LlmError('the LLM call was cancelled', false));
        });
        calls.push(call);
      });
    },
  };
  const config = configSchema.parse({ agent: { retry_backoff_ms: 1, ...agent } });
  const worker = new AgentWorker({
    bus,
    llm,
    sessions,
    tools: options.tools ?? new ToolRegistry([]),
    config: () => config,
    systemPromptFile: join(dir, 'AGENT.md'),
    log: logger,
    ...(options.firstDraftAfterMs !== undefined ? { firstDraftAfterMs: options.firstDraftAfterMs } : {}),
  });
  const replies: OutboundEvent[] = [];
  const drafts: DraftEvent[] = [];
  bus.subscribe(OutboundEvent, (e) => void replies.push(e));
  bus.subscribe(DraftEvent, (e) => void drafts.push(e));
  const say = (id: string, content: string, userId = 'u1') =>
    bus.publish(createEvent<InboundEvent>({ id, type: 'inbound', sessionId: 's', content, retryCount: 0, source: { channel: 'test', chatId: 's', userId } }));
  const history = () => readFileSync(join(dir, 's.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { role: string; content: string; eventIds?: string[] });
  const start = async () => {
    await worker.start();
    await bus.run();
  };
  return { bus, journal, calls, replies, drafts, lines, say, history, start };
}

const lastUser = (call: Call) => call.messages.at(-1)!.content;

describe('AgentWorker: more messages before anything of the answer shows', () => {
  it('cancel the call in flight; one turn answers them all, in order, and the history keeps only that turn', async () => {
    const r = rig();
    await r.start();
    await r.say('e1', 'I need a name');
    await waitFor(() => r.calls.length === 1, 2000, 'the first call');
    await r.say('e2', 'for a grey cat');
    await waitFor(() => r.calls.length === 2, 2000, 'the call started again');
    await r.say('e3', 'who likes boxes');
    await waitFor(() => r.calls.length === 3, 2000, 'the call started a third time');
    expect(r.calls.map((c) => c.cancelled)).toEqual([true, true, false]);
    expect(lastUser(r.calls[2]!)).toBe('I need a name\n\nfor a grey cat\n\nwho likes boxes');
    r.calls[2]!.answer({ content: 'Box.' });
    await waitFor(() => r.journal.pendingCount === 1, 2000, 'every message acknowledged, the reply pending');
    expect(r.replies.map((e) => [e.id, e.content])).toEqual([['e1:reply', 'Box.']]);
    expect(r.history()).toEqual([
      expect.objectContaining({ role: 'user', content: 'I need a name\n\nfor a grey cat\n\nwho likes boxes', eventIds: ['e1', 'e2', 'e3'] }),
      expect.objectContaining({ role: 'assistant', content: 'Box.' }),
    ]);
    expect(r.lines.filter((l) => String(l.msg).startsWith('answer cancelled before any of it showed'))).toHaveLength(2);
  });

  it('once a draft of the answer shows, the next message is its own turn', async () => {
    const r = rig({}, { firstDraftAfterMs: 10 });
    await r.start();
    await r.say('e1', 'tell me a story');
    await waitFor(() => r.calls.length === 1, 2000, 'the first call');
    r.calls[0]!.onText!('Once upon');
    await waitFor(() => r.drafts.length === 1, 2000, 'the first draft');
    await r.say('e2', 'a short one');
    r.calls[0]!.answer({ content: 'Once upon a time.' });
    await waitFor(() => r.calls.length === 2, 2000, 'the second turn');
    r.calls[1]!.answer({ content: 'The end.' });
    await waitFor(() => r.replies.length === 2, 2000, 'two replies');
    expect(r.calls.map((c) => [c.cancelled, lastUser(c)])).toEqual([
      [false, 'tell me a story'],
      [false, 'a short one'],
    ]);
    expect(r.replies.map((e) => e.content)).toEqual(['Once upon a time.', 'The end.']);
  });

  it('an answer that is still being held back (written for less than the first-draft delay) is cancelled', async () => {
    const r = rig({}, { firstDraftAfterMs: 60_000 });
    await r.start();
    await r.say('e1', 'hi');
    await waitFor(() => r.calls.length === 1, 2000, 'the first call');
    r.calls[0]!.onText!('Hel');
    await r.say('e2', 'there');
    await waitFor(() => r.calls.length === 2, 2000, 'the call started again');
    expect(r.calls[0]!.cancelled).toBe(true);
    expect(r.drafts).toEqual([]);
  });

  it('a command, or another member of a group, is not merged and cancels nothing', async () => {
    const r = rig();
    await r.start();
    await r.say('e1', 'first thought');
    await waitFor(() => r.calls.length === 1, 2000, 'the first call');
    await r.say('e2', 'me too', 'u2');
    await r.say('e3', 'and another', 'u1');
    r.calls[0]!.answer({ content: 'one' });
    await waitFor(() => r.calls.length === 2, 2000, 'the second turn');
    expect(r.calls[0]!.cancelled).toBe(false);
    expect(lastUser(r.calls[1]!)).toBe('me too');
    r.calls[1]!.answer({ content: 'two' });
    await waitFor(() => r.calls.length === 3, 2000, 'the third turn');
    expect(lastUser(r.calls[2]!)).toBe('and another');
    r.calls[2]!.answer({ content: 'three' });
    await waitFor(() => r.replies.length === 3, 2000, 'the third reply');
    await r.say('e4', 'more');
    await waitFor(() => r.calls.length === 4, 2000, 'the fourth turn');
    await r.say('e5', '/session');
    r.calls[3]!.answer({ content: 'four' });
    await waitFor(() => r.replies.length === 5, 2000, 'five replies');
    expect(r.calls[3]!.cancelled).toBe(false);
    expect(r.replies.map((e) => e.content.split('\n')[0])).toEqual(['one', 'two', 'three', 'four', 'Session: s']);
  });

  it('once a tool has run, the turn is not cancelled: its effects are not done twice', async () => {
    let runs = 0;
    const tools = new ToolRegistry([defineTool({ name: 'note', description: 'writes a note', schema: z.object({}), run: async () => `written ${++runs}` })]);
    const r = rig({}, { tools });
    await r.start();
    await r.say('e1', 'note this');
    await waitFor(() => r.calls.length === 1, 2000, 'the first call');
    r.calls[0]!.answer({ toolCalls: [{ id: 'c1', name: 'note', arguments: '{}' }] });
    await waitFor(() => r.calls.length === 2, 2000, 'the round after the tool');
    await r.say('e2', 'and that');
    r.calls[1]!.answer({ content: 'noted' });
    await waitFor(() => r.calls.length === 3, 2000, 'the next turn');
    expect(r.calls.map((c) => c.cancelled)).toEqual([false, false, false]);
    expect(runs).toBe(1);
    expect(lastUser(r.calls[2]!)).toBe('and that');
  });

  it('after five restarts in one turn, later messages wait for the next turn', async () => {
    const r = rig();
    await r.start();
    await r.say('e0', 'm0');
    for (let i = 1; i <= 6; i++) {
      await waitFor(() => r.calls.length === i, 2000, `call ${i}`);
      await r.say(`e${i}`, `m${i}`);
    }
    r.calls[5]!.answer({ content: 'six at once' });
    await waitFor(() => r.calls.length === 7, 2000, 'the next turn');
    expect(r.calls.slice(0, 6).map((c) => c.cancelled)).toEqual([true, true, true, true, true, false]);
    expect(lastUser(r.calls[5]!)).toBe('m0\n\nm1\n\nm2\n\nm3\n\nm4\n\nm5');
    expect(lastUser(r.calls[6]!)).toBe('m6');
  });

  it('a message longer than agent.max_input_chars is cut, with a note, before the model and the history see it', async () => {
    const r = rig({ max_input_chars: 1000 });
    await r.start();
    await r.say('e1', 'x'.repeat(5000));
    await waitFor(() => r.calls.length === 1, 2000, 'the call');
    const sent = String(lastUser(r.calls[0]!));
    expect(sent.startsWith('x'.repeat(1000) + '\n\n[…the message was cut here: it had 5,000 characters, more than the 1,000 I take at once]')).toBe(true);
    expect(sent).not.toContain('x'.repeat(1001));
    r.calls[0]!.answer({ content: 'ok' });
    await waitFor(() => r.replies.length === 1, 2000, 'the reply');
    expect(r.history()[0]!.content).toBe(sent);
    expect(r.lines.find((l) => String(l.msg).startsWith('message too long'))).toMatchObject({ sessionId: 's', chars: 5000, kept: 1000 });
  });
});

describe('DraftPublisher', () => {
  it('publishes nothing before the model has written for a while, then every new text', async () => {
    const { logger } = memoryLogger();
    const bus = new LocalBus({ log: logger });
    const seen: string[] = [];
    bus.subscribe(DraftEvent, (e) => void seen.push(e.text));
    await bus.run();
    const inbound = createEvent<InboundEvent>({ id: 'i', type: 'inbound', sessionId: 's', content: 'q', retryCount: 0, source: { channel: 'test', chatId: 's' } });
    const drafts = new DraftPublisher(bus, inbound, 50);
    drafts.onText('A');
    drafts.onText('AB');
    expect(drafts.shown).toBe(false);
    await waitFor(() => drafts.shown, 2000, 'the first draft');
    drafts.onText('ABC');
    drafts.close();
    drafts.onText('ABCD');
    await waitFor(() => seen.length === 2, 2000, 'two drafts');
    expect(seen).toEqual(['AB', 'ABC']);
    const quick = new DraftPublisher(bus, inbound, 50);
    quick.onText('done fast');
    quick.close();
    await new Promise((resolve) => setTimeout(resolve, 150)); // past the delay: nothing may come
    expect(seen).toEqual(['AB', 'ABC']);
    await bus.stop(100);
  });
});
