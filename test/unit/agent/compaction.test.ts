import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseCut, compactSession, estimateTokens, needsCompaction } from '../../../src/agent/compaction.ts';
import type { ChatMessage, Llm, LlmReply } from '../../../src/agent/llm.ts';
import { JsonlSessionStore, type StoredMessage } from '../../../src/agent/sessions.ts';
import { LlmError } from '../../../src/core/errors.ts';
import { memoryLogger } from '../../helpers/log.ts';

const text = (n: number, c = 'x') => c.repeat(n);

/** Turns of a conversation; every third turn calls a tool twice before answering. */
function conversation(turns: number): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (let t = 0; t < turns; t++) {
    out.push({ role: 'user', content: `question ${t} ${text(40 + t * 7)}` });
    if (t % 3 === 1) {
      out.push({ role: 'assistant', content: null, tool_calls: [{ id: `c${t}a`, name: 'read_file', arguments: `{"path":"${text(30)}"}` }, { id: `c${t}b`, name: 'list_files', arguments: '{}' }] });
      out.push({ role: 'tool', tool_call_id: `c${t}a`, content: text(300) }, { role: 'tool', tool_call_id: `c${t}b`, content: text(120) });
      out.push({ role: 'assistant', content: null, tool_calls: [{ id: `c${t}c`, name: 'write_file', arguments: `{"content":"${text(200)}"}` }] });
      out.push({ role: 'tool', tool_call_id: `c${t}c`, content: 'wrote' });
    }
    out.push({ role: 'assistant', content: `answer ${t} ${text(60)}` });
  }
  return out;
}

/** Every tool result has its call on the same side of the cut, and every call its results. */
function pairsWhole(messages: ChatMessage[], cut: number): boolean {
  const side = (i: number) => i >= cut;
  const callAt = new Map<string, number>();
  messages.forEach((m, i) => {
    if (m.role === 'assistant') for (const c of m.tool_calls ?? []) callAt.set(c.id, i);
  });
  return messages.every((m, i) => m.role !== 'tool' || side(callAt.get(m.tool_call_id)!) === side(i));
}

function fakeLlm(answer: (messages: ChatMessage[]) => LlmReply | Promise<LlmReply>): Llm & { calls: ChatMessage[][] } {
  const calls: ChatMessage[][] = [];
  return {
    calls,
    async chat(messages) {
      calls.push(messages);
      return answer(messages);
    },
  };
}

describe('compaction', () => {
  it('estimates about a token per 4 characters, plus a few per message, tool calls and specs included', () => {
    expect(estimateTokens([{ role: 'user', content: text(400) }])).toBe(104);
    expect(estimateTokens([{ role: 'assistant', content: null, tool_calls: [{ id: 'a', name: 'list_files', arguments: text(30) }] }])).toBe(14);
    expect(estimateTokens([], [{ name: 'x', description: text(100), parameters: {} }])).toBeGreaterThan(25);
    expect(needsCompaction(800, 1000)).toBe(true);
    expect(needsCompaction(799, 1000)).toBe(false);
  });

  it('cuts only at a user message, so a tool call and its results are never split, whatever the budget', () => {
    const messages = conversation(12);
    const total = estimateTokens(messages);
    for (let keep = 0; keep <= total + 10; keep += 7) {
      const cut = chooseCut(messages, keep);
      if (cut === undefined) {
        expect(estimateTokens(messages)).toBeLessThanOrEqual(keep);
        continue;
      }
      expect(cut).toBeGreaterThan(0);
      if (cut < messages.length) expect(messages[cut]!.role).toBe('user');
      expect(pairsWhole(messages, cut)).toBe(true);
      expect(estimateTokens(messages.slice(cut))).toBeLessThanOrEqual(Math.max(keep, 0));
    }
  });

  it('keeps the most recent turns that fit, and summarises everything when not even the last turn fits', () => {
    const messages = conversation(6);
    const lastTurn = messages.findLastIndex((m) => m.role === 'user');
    const lastTurnTokens = messages.slice(lastTurn).reduce((sum, m) => sum + estimateTokens([m]), 0);
    expect(chooseCut(messages, lastTurnTokens)).toBe(lastTurn);
    expect(chooseCut(messages, lastTurnTokens - 1)).toBe(messages.length);
    expect(chooseCut(messages, 1)).toBe(messages.length);
    expect(chooseCut([], 100)).toBeUndefined();
  });

  it('/compact (force) condenses a short history too, keeping only its last turn', () => {
    const messages = conversation(3);
    expect(chooseCut(messages, 1_000_000)).toBeUndefined();
    expect(chooseCut(messages, 1_000_000, true)).toBe(messages.findLastIndex((m) => m.role === 'user'));
    expect(chooseCut(conversation(1), 1_000_000, true)).toBe(2);
  });

  it('summarises the cut part with the previous summary, records it, and the window starts from it', async () => {
    const { logger } = memoryLogger();
    const sessions = new JsonlSessionStore(mkdtempSync(join(tmpdir(), 'mybot-compact-')), () => 100, logger);
    const history = conversation(9);
    await sessions.appendTurn('s', history.map((m) => ({ ...m, ts: 1 }) as StoredMessage));
    await sessions.compact('s', 'the user is called Ada', 0);
    await sessions.appendTurn('s', history.map((m) => ({ ...m, ts: 2 }) as StoredMessage));
    const llm = fakeLlm(() => ({ content: '  Ada asked nine questions.  ', toolCalls: [] }));
    const window = await sessions.load('s');
    const done = await compactSession({ llm, sessions, sessionId: 's', window, contextWindow: 1500, signal: new AbortController().signal });
    expect(done!.summarised).toBeGreaterThan(0);
    expect(done!.kept).toBeGreaterThan(0);
    const [request] = llm.calls;
    expect(request![0]!.role).toBe('system');
    expect(request![1]!.content).toContain('Summary so far:\nthe user is called Ada');
    expect(request![1]!.content).toContain('User: question 0');
    expect(request![1]!.content).toContain('[called read_file(');
    const after = await sessions.load('s');
    expect(after.summary).toBe('Ada asked nine questions.');
    expect(after.messages).toHaveLength(done!.kept);
    expect(done!.summarised + done!.kept).toBe(history.length);
    expect(after.messages[0]?.role ?? 'user').toBe('user');
    expect(readFileSync(sessions.fileOf('s'), 'utf8').trim().split('\n')).toHaveLength(2 * history.length + 2);
  });

  it('a failed or empty summary throws and leaves the session as it was', async () => {
    const { logger } = memoryLogger();
    const sessions = new JsonlSessionStore(mkdtempSync(join(tmpdir(), 'mybot-compact-')), () => 100, logger);
    await sessions.appendTurn('s', conversation(4).map((m) => ({ ...m, ts: 1 }) as StoredMessage));
    const before = await sessions.load('s');
    const input = { sessions, sessionId: 's', window: before, contextWindow: 1000, signal: new AbortController().signal, force: true };
    await expect(compactSession({ ...input, llm: fakeLlm(() => Promise.reject(new LlmError('the LLM answered HTTP 503', true))) })).rejects.toThrow('HTTP 503');
    await expect(compactSession({ ...input, llm: fakeLlm(() => ({ content: ' ', toolCalls: [] })) })).rejects.toThrow('empty summary');
    const after = await sessions.load('s');
    expect(after.summary).toBeUndefined();
    expect(after.messages).toHaveLength(before.messages.length);
  });
});
