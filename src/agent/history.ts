import { summaryMessage } from './compaction.ts';
import type { ChatMessage } from './llm.ts';
import { toChat, type SessionWindow, type StoredMessage } from './sessions.ts';

/**
 * Makes a stored history acceptable to an OpenAI-compatible API, which refuses (400) a request
 * where an assistant's tool call is not followed by its result, or a result answers no call. A
 * session file can hold one after a write that the disk cut short (ENOSPC): the turn's last lines
 * are missing, or glued to the next turn and skipped as unreadable. The incomplete call is dropped
 * (its text, if any, kept), with the partial results, so the conversation goes on instead of every
 * later turn failing the same way.
 */
export function repairHistory(messages: readonly ChatMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    if (message.role === 'tool') continue; // results are taken with their call below; any other is an orphan
    if (message.role !== 'assistant' || !message.tool_calls?.length) {
      out.push(message);
      continue;
    }
    const results: ChatMessage[] = [];
    for (let j = i + 1; j < messages.length && messages[j]!.role === 'tool'; j++) results.push(messages[j]!);
    const answered = new Set(results.map((r) => (r.role === 'tool' ? r.tool_call_id : '')));
    if (message.tool_calls.every((call) => answered.has(call.id))) {
      const ids = new Set(message.tool_calls.map((call) => call.id));
      out.push(message, ...results.filter((r) => r.role === 'tool' && ids.has(r.tool_call_id)));
    } else if (message.content) {
      out.push({ role: 'assistant', content: message.content });
    }
    i += results.length;
  }
  return out;
}

/** The history the LLM gets: the summary of what came before the window, if any, then the window. */
export function historyOf(window: SessionWindow): ChatMessage[] {
  const messages = window.messages.map(toChat);
  return window.summary === undefined ? messages : [summaryMessage(window.summary), ...messages];
}

/**
 * After a crash between recording a turn and acknowledging it, the recorded answer is sent, not a
 * new one: found by any event id of the burst it answered, and sent under the burst's first id.
 */
export function recordedTurn(messages: StoredMessage[], eventId: string): { reply: string; replyTo: string; eventIds: string[] } | undefined {
  const at = messages.findIndex((m) => m.eventId === eventId || m.eventIds?.includes(eventId));
  if (at < 0) return undefined;
  const last = messages.slice(at + 1).findLast((m) => m.role === 'assistant' && !('tool_calls' in m && m.tool_calls?.length));
  if (typeof last?.content !== 'string') return undefined;
  const user = messages[at]!;
  return { reply: last.content, replyTo: user.eventId ?? eventId, eventIds: user.eventIds ?? [eventId] };
}
