import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentWorker } from '../../../src/agent/agent-worker.ts';
import type { ChatMessage, Llm, LlmReply } from '../../../src/agent/llm.ts';
import { JsonlSessionStore } from '../../../src/agent/sessions.ts';
import { ToolRegistry } from '../../../src/agent/tools/registry.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { LlmError } from '../../../src/core/errors.ts';
import { createEvent, OutboundEvent } from '../../../src/core/events.ts';
import { Journal } from '../../../src/core/journal.ts';
import { LocalBus } from '../../../src/core/local-bus.ts';
import { inbound } from '../../helpers/events.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { waitFor } from '../../helpers/wait.ts';

/** The agent worker on a journaled bus and a session store in a temp workspace, with a scripted LLM. */
function rig(dir: string, answer: (messages: ChatMessage[]) => LlmReply | Promise<LlmReply>, agent: Record<string, unknown> = {}) {
  const { logger, lines } = memoryLogger();
  const journal = new Journal(join(dir, 'journal.jsonl'), { log: logger });
  const bus = new LocalBus({ log: logger, journal });
  const sessions = new JsonlSessionStore(dir, () => 40, logger);
  const calls: ChatMessage[][] = [];
  const llm: Llm = {
    async chat(messages) {
      calls.push([...messages]);
      return answer(messages);
    },
  };
  const config = configSchema.parse({ agent: { retry_backoff_ms: 1, ...agent } });
  const worker = new AgentWorker({ bus, llm, sessions, tools: new ToolRegistry([]), config: () => config, systemPromptFile: join(dir, 'AGENT.md'), log: logger });
  const replies: OutboundEvent[] = [];
  bus.subscribe(OutboundEvent, (e) => void replies.push(e));
  return { bus, journal, sessions, worker, calls, replies, lines };
}

describe('AgentWorker with bursts', () => {
  it('after a crash between recording a merged turn and acknowledging it, answers once, from the record, acknowledging every event of the burst', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mybot-bursts-'));
    const first = rig(dir, () => ({ content: 'one answer for both', toolCalls: [] }));
    // published before run: the replay hands both to the worker, queued together
    await first.bus.publish(inbound('s', 'hello', 'e1'));
    await first.bus.publish(inbound('s', 'are you there?', 'e2'));
    // the crash: the turn recorded, the reply and the acks never written
    await first.sessions.appendTurn('s', [
      { role: 'user', content: 'hello\n\nare you there?', ts: 1, eventId: 'e1', eventIds: ['e1', 'e2'] },
      { role: 'assistant', content: 'one answer for both', ts: 1 },
    ]);
    first.journal.close();

    const second = rig(dir, () => ({ content: 'a second, paid-for answer', toolCalls: [] }));
    await second.worker.start();
    await second.bus.run();
    await waitFor(() => second.journal.pendingCount === 1, 5_000, 'both inbound events acknowledged');
    expect(second.calls).toHaveLength(0);
    expect(second.replies.map((r) => [r.id, r.content])).toEqual([['e1:reply', 'one answer for both']]);
    expect(second.journal.pendingEvents().map((p) => p.event.id)).toEqual(['e1:reply']);
    second.journal.close();
  });

  it('the second event of a recorded burst, replayed alone, publishes nothing new: the reply id is the burst\'s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mybot-bursts-'));
    const first = rig(dir, () => ({ content: 'unused', toolCalls: [] }));
    await first.bus.publish(inbound('s', 'hello', 'e1'));
    await first.bus.publish(inbound('s', 'are you there?', 'e2'));
    await first.sessions.appendTurn('s', [
      { role: 'user', content: 'hello\n\nare you there?', ts: 1, eventId: 'e1', eventIds: ['e1', 'e2'] },
      { role: 'assistant', content: 'one answer for both', ts: 1 },
    ]);
    // e1 and its reply were acknowledged; the crash came before e2's ack
    await first.journal.append(createEvent<OutboundEvent>({ id: 'e1:reply', type: 'outbound', sessionId: 's', source: { channel: 'test', chatId: 's' }, content: 'one answer for both', inReplyTo: 'e1' }));
    await first.journal.ack('e1:reply');
    await first.journal.ack('e1');
    first.journal.close();

    const second = rig(dir, () => ({ content: 'a second, paid-for answer', toolCalls: [] }));
    await second.worker.start();
    await second.bus.run();
    await waitFor(() => second.journal.pendingCount === 0, 5_000, 'e2 acknowledged');
    expect(second.calls).toHaveLength(0);
    expect(second.replies).toEqual([]);
    second.journal.close();
  });

  it('a burst whose LLM call fails for a moment goes back whole, in order, and is answered once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mybot-bursts-'));
    let failures = 1;
    const r = rig(dir, (messages) => {
      if (failures-- > 0) throw new LlmError('the LLM answered HTTP 503', true);
      return { content: `got: ${String(messages.at(-1)!.content)}`, toolCalls: [] };
    });
    await r.worker.start();
    for (const [id, text] of [['e1', 'a'], ['e2', 'b'], ['e3', 'c']]) await r.bus.publish(inbound('s', text!, id));
    await r.bus.run();
    await waitFor(() => r.replies.length === 1 && r.journal.pendingCount === 1, 5_000, 'one reply, every inbound acknowledged');
    expect(r.journal.pendingEvents().map((p) => p.event.id)).toEqual(['e1:reply']);
    expect(r.calls.map((c) => c.at(-1)!.content)).toEqual(['a\n\nb\n\nc', 'a\n\nb\n\nc']);
    expect(r.replies[0]).toMatchObject({ id: 'e1:reply', content: 'got: a\n\nb\n\nc' });
    expect(r.lines.filter((l) => l.msg === 'LLM turn failed; trying again')).toHaveLength(1);
    r.journal.close();
  });
});
