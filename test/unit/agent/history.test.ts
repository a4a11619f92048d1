import { describe, expect, it } from 'vitest';
import { repairHistory } from '../../../src/agent/history.ts';
import type { ChatMessage } from '../../../src/agent/llm.ts';

const call = (id: string) => ({ id, name: 'list_files', arguments: '{}' });

describe('repairHistory', () => {
  it('keeps a valid history as it is', () => {
    const history: ChatMessage[] = [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: null, tool_calls: [call('a'), call('b')] },
      { role: 'tool', tool_call_id: 'a', content: 'A' },
      { role: 'tool', tool_call_id: 'b', content: 'B' },
      { role: 'assistant', content: 'answer' },
    ];
    expect(repairHistory(history)).toEqual(history);
  });

  it('drops a tool call whose result is missing (a torn write), with its partial results; keeps its text', () => {
    expect(
      repairHistory([
        { role: 'user', content: 'q' },
        { role: 'assistant', content: 'let me look', tool_calls: [call('a'), call('b')] },
        { role: 'tool', tool_call_id: 'a', content: 'A' },
        { role: 'user', content: 'next' },
        { role: 'assistant', content: null, tool_calls: [call('c')] },
      ]),
    ).toEqual([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'let me look' },
      { role: 'user', content: 'next' },
    ]);
  });

  it('drops results that answer no call', () => {
    expect(
      repairHistory([
        { role: 'tool', tool_call_id: 'x', content: 'orphan at the start' },
        { role: 'user', content: 'q' },
        { role: 'assistant', content: null, tool_calls: [call('a')] },
        { role: 'tool', tool_call_id: 'a', content: 'A' },
        { role: 'tool', tool_call_id: 'zz', content: 'stray' },
        { role: 'assistant', content: 'done' },
      ]),
    ).toEqual([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: null, tool_calls: [call('a')] },
      { role: 'tool', tool_call_id: 'a', content: 'A' },
      { role: 'assistant', content: 'done' },
    ]);
  });
});
