import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAiLlm, type ChatMessage, type LlmReply } from '../../../src/agent/llm.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { LlmError } from '../../../src/core/errors.ts';
import { FakeOpenAI, type FakeReply } from '../../fakes/openai.ts';

const ASK: ChatMessage[] = [{ role: 'user', content: 'hi' }];
const TOOL = { name: 'read_file', description: 'reads a file', parameters: { type: 'object', properties: { path: { type: 'string' } } } };

describe('OpenAiLlm streaming, against the fake OpenAI server', () => {
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await FakeOpenAI.start();
  });
  afterAll(async () => {
    await fake.close();
  });

  const llm = (settings: Record<string, unknown>) => new OpenAiLlm(() => configSchema.parse({ llm: { api_base: fake.url, model: 'fake', max_retries: 0, ...settings } }).llm);
  const both = async (reply: FakeReply): Promise<{ whole: LlmReply; streamed: LlmReply; texts: string[] }> => {
    fake.enqueue(reply, reply);
    const whole = await llm({ stream: false }).chat(ASK, [TOOL]);
    const texts: string[] = [];
    const streamed = await llm({}).chat(ASK, [TOOL], undefined, (text) => texts.push(text));
    return { whole, streamed, texts };
  };

  it('streams by default: the same reply as without streaming, the text seen growing on the way', async () => {
    const text = 'A streamed answer, in eight pieces, with ünïcödé 👋 too.';
    const { whole, streamed, texts } = await both({ content: text, pieces: 8, usage: { prompt_tokens: 11, completion_tokens: 13 } });
    expect(fake.requests.slice(-2).map((r) => [r.stream, r.body.stream_options])).toEqual([[false, undefined], [true, { include_usage: true }]]);
    expect(streamed).toEqual(whole);
    expect(streamed).toEqual({ content: text, toolCalls: [], usage: { promptTokens: 11, completionTokens: 13 } });
    expect(texts.length).toBeGreaterThanOrEqual(7);
    texts.forEach((t, i) => expect(text.startsWith(t) && (i === 0 || t.length > texts[i - 1]!.length)).toBe(true));
    expect(texts.at(-1)).toBe(text);
  });

  it('puts tool calls together from their fragments, as the whole reply has them', async () => {
    const { whole, streamed, texts } = await both({ toolCalls: [{ name: 'read_file', arguments: '{"path": "notes/today.md"}', id: 'call_1' }, { name: 'read_file', arguments: '{"path": "b"}', id: 'call_2' }] });
    expect(streamed).toEqual(whole);
    expect(streamed.toolCalls).toEqual([
      { id: 'call_1', name: 'read_file', arguments: '{"path": "notes/today.md"}' },
      { id: 'call_2', name: 'read_file', arguments: '{"path": "b"}' },
    ]);
    expect(streamed.content).toBeNull();
    expect(texts).toEqual([]);
  });

  it('a stream cut after some text: what arrived, marked interrupted', async () => {
    fake.enqueue({ fault: 'cut-stream', content: 'one two three four', pieces: 4 });
    const reply = await llm({}).chat(ASK, []);
    expect(reply).toMatchObject({ content: 'one two three f', toolCalls: [], interrupted: true });
  });

  it('a stream broken before any text, or stalled longer than llm.timeout_s: a transient LlmError (the turn is tried again)', async () => {
    fake.enqueue({ fault: 'malformed' });
    const malformed = await llm({}).chat(ASK, []).catch((e: unknown) => e);
    expect(malformed).toBeInstanceOf(LlmError);
    expect(malformed).toMatchObject({ transient: true });

    fake.enqueue({ content: 'too slow', pieces: 2, pieceDelayMs: 400 });
    const stalled = await llm({ timeout_s: 0.15 }).chat(ASK, []).catch((e: unknown) => e);
    expect(stalled).toBeInstanceOf(LlmError);
    expect(stalled).toMatchObject({ transient: true, message: expect.stringMatching(/stopped in the middle.*llm\.timeout_s/) });
  });

  it('cancelled by its caller mid-stream: a cancellation, not a reply with what had arrived', async () => {
    fake.enqueue({ content: 'a long answer that takes its time', pieces: 6, pieceDelayMs: 100 });
    const abort = new AbortController();
    const result = await llm({})
      .chat(ASK, [], abort.signal, () => abort.abort())
      .catch((e: unknown) => e);
    expect(result).toBeInstanceOf(LlmError);
    expect(result).toMatchObject({ transient: false, message: 'the LLM call was cancelled' });
  });
});
