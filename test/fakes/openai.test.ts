import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import OpenAI, { APIConnectionError, APIError, BadRequestError, NotFoundError, RateLimitError, toFile } from 'openai';
import { FakeOpenAI, imagePartsOf } from './openai.ts';

const TOOLS: OpenAI.Chat.ChatCompletionTool[] = [
  {
    type: 'function',
    function: { name: 'read_file', parameters: { type: 'object', properties: { path: { type: 'string' } } } },
  },
];

describe('FakeOpenAI with the real openai SDK', () => {
  let fake: FakeOpenAI;
  let client: OpenAI;

  beforeEach(async () => {
    fake = await FakeOpenAI.start();
    client = new OpenAI({ baseURL: fake.url, apiKey: 'sk-test', maxRetries: 0 });
  });

  afterEach(async () => {
    await fake.close();
  });

  it('answers a plain request with the default echo responder and usage', async () => {
    const res = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hello there' }] });
    expect(res.choices[0]?.message.content).toBe('echo: hello there');
    expect(res.choices[0]?.finish_reason).toBe('stop');
    expect(res.model).toBe('m1');
    expect(res.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(res.usage?.total_tokens).toBe((res.usage?.prompt_tokens ?? 0) + (res.usage?.completion_tokens ?? 0));
  });

  it('streams content in several chunks, with a usage chunk when asked', async () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    fake.enqueue({ content: text, usage: { prompt_tokens: 7, completion_tokens: 9 } });
    const stream = await client.chat.completions.create({
      model: 'm1',
      messages: [{ role: 'user', content: 'go' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const deltas: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      const choice = chunk.choices[0];
      if (choice?.delta.content) deltas.push(choice.delta.content);
      if (choice?.finish_reason) finish = choice.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(deltas.length).toBeGreaterThan(2);
    expect(deltas.join('')).toBe(text);
    expect(finish).toBe('stop');
    expect(usage).toEqual({ prompt_tokens: 7, completion_tokens: 9, total_tokens: 16 });
  });

  it('streams a reply that the SDK stream helper assembles into the full text', async () => {
    fake.enqueue({ content: 'héllo wörld 👋 from the fake' });
    const stream = client.chat.completions.stream({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe('héllo wörld 👋 from the fake');
  });

  it('returns a tool call without streaming', async () => {
    fake.enqueue({ toolCalls: [{ name: 'read_file', arguments: '{"path":"notes.md"}', id: 'call_abc' }] });
    const res = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'read it' }], tools: TOOLS });
    const choice = res.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBeNull();
    const call = choice?.message.tool_calls?.[0];
    expect(call?.id).toBe('call_abc');
    expect(call?.type === 'function' ? call.function : undefined).toEqual({ name: 'read_file', arguments: '{"path":"notes.md"}' });
  });

  it('streams tool calls that the SDK reconstructs (name once, arguments in fragments)', async () => {
    const args = '{"path":"docs/some/long/path/to/a/file.md","limit":200}';
    fake.enqueue({
      content: 'Let me look.',
      toolCalls: [
        { name: 'read_file', arguments: args },
        { name: 'read_file', arguments: '{"path":"b.md"}' },
      ],
    });
    const stream = client.chat.completions.stream({ model: 'm1', messages: [{ role: 'user', content: 'read' }], tools: TOOLS });
    const argFragments: string[] = [];
    stream.on('tool_calls.function.arguments.delta', (e) => {
      if (e.index === 0) argFragments.push(e.arguments_delta);
    });
    const final = await stream.finalChatCompletion();
    const message = final.choices[0]?.message;
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    expect(message?.content).toBe('Let me look.');
    const calls = (message?.tool_calls ?? []).map((c) => (c.type === 'function' ? [c.id, c.function.name, c.function.arguments] : []));
    expect(calls).toHaveLength(2);
    expect(calls[0]?.[1]).toBe('read_file');
    expect(calls[0]?.[2]).toBe(args);
    expect(calls[1]?.[2]).toBe('{"path":"b.md"}');
    expect(calls[0]?.[0]).not.toBe(calls[1]?.[0]);
    expect(argFragments.length).toBeGreaterThan(1);
  });

  it('surfaces a 429 with retry-after as RateLimitError, without retrying', async () => {
    fake.enqueue({ fault: 'status', status: 429, retryAfterS: 3, message: 'slow down' });
    const err = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    const rate = err as RateLimitError;
    expect(rate.status).toBe(429);
    expect(rate.headers?.get('retry-after')).toBe('3');
    expect(rate.message).toContain('slow down');
    expect(fake.requests).toHaveLength(1);
  });

  it('surfaces a dropped connection as APIConnectionError', async () => {
    fake.enqueue({ fault: 'drop' });
    const err = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIConnectionError);
  });

  it('failNext overrides the queue for n requests, then the queue resumes', async () => {
    fake.enqueue({ content: 'queued' });
    fake.failNext(2, { fault: 'status', status: 503 });
    const ask = (): Promise<unknown> => client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(((await ask()) as APIError).status).toBe(503);
    expect(((await ask()) as APIError).status).toBe(503);
    const ok = (await ask()) as OpenAI.ChatCompletion;
    expect(ok.choices[0]?.message.content).toBe('queued');
  });

  it('the SDK retries faults by itself when maxRetries allows it', async () => {
    const retrying = new OpenAI({ baseURL: fake.url, apiKey: 'sk-test', maxRetries: 2 });
    fake.failNext(2, { fault: 'status', status: 500, retryAfterS: 0 });
    const res = await retrying.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'again' }] });
    expect(res.choices[0]?.message.content).toBe('echo: again');
    expect(fake.requests).toHaveLength(3);
  });

  it('malformed and cut-stream replies make the SDK fail', async () => {
    fake.enqueue({ fault: 'malformed' }, { fault: 'cut-stream', content: 'partial answer that never ends' });
    const bad = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(Error);
    const stream = client.chat.completions.stream({ model: 'm1', messages: [{ role: 'user', content: 'x' }] });
    const seen: string[] = [];
    stream.on('content', (delta) => seen.push(delta));
    await expect(stream.finalChatCompletion()).rejects.toBeInstanceOf(Error);
    expect(seen.join('')).not.toBe('partial answer that never ends');
  });

  it('streams slowly when asked: pieces a delay apart, and a paced cut ends the connection after all but the last piece', async () => {
    fake.enqueue({ content: 'abcdefghij', pieces: 5, pieceDelayMs: 60 }, { fault: 'cut-stream', content: 'abcdefghij', pieces: 5, pieceDelayMs: 60 });
    const arrivals: Array<{ text: string; at: number }> = [];
    const stream = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'x' }], stream: true });
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) arrivals.push({ text: chunk.choices[0].delta.content, at: Date.now() });
    expect(arrivals.map((a) => a.text).join('')).toBe('abcdefghij');
    expect(arrivals).toHaveLength(5);
    expect(arrivals.at(-1)!.at - arrivals[0]!.at).toBeGreaterThanOrEqual(4 * 50);

    const cut = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'x' }], stream: true });
    const seen: string[] = [];
    const failure = await (async () => {
      for await (const chunk of cut) if (chunk.choices[0]?.delta.content) seen.push(chunk.choices[0].delta.content);
    })().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(Error);
    expect(seen.join('')).toBe('abcdefgh');
  });

  it('records requests with their messages, and uses a custom responder', async () => {
    fake.setResponder((req) => ({ content: `${req.messages.length} messages` }));
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'first' },
    ];
    const res = await client.chat.completions.create({ model: 'm2', messages });
    expect(res.choices[0]?.message.content).toBe('2 messages');
    const stream = client.chat.completions.stream({ model: 'm2', messages: [...messages, { role: 'assistant', content: 'ok' }] });
    await stream.finalChatCompletion();
    await fake.waitForRequests(2);
    expect(fake.requests.map((r) => [r.model, r.stream, r.messages.length])).toEqual([
      ['m2', false, 2],
      ['m2', true, 3],
    ]);
    expect(fake.requests[0]?.messages).toEqual(messages);
    expect(fake.requests[1]?.at).toBeGreaterThanOrEqual(fake.requests[0]?.at ?? 0);
  });

  it('waitForRequests rejects with the count that arrived', async () => {
    await expect(fake.waitForRequests(1, 50)).rejects.toThrow(/expected 1 .* got 0/);
  });

  it('latency is abortable by the client, and close() during a delay does not hang', async () => {
    fake.setLatency(5_000);
    const controller = new AbortController();
    const aborted = client.chat.completions
      .create({ model: 'm1', messages: [{ role: 'user', content: 'x' }] }, { signal: controller.signal })
      .catch((e: unknown) => e);
    await fake.waitForRequests(1);
    controller.abort();
    expect(await aborted).toBeInstanceOf(Error);

    const pending = client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'y' }] }).catch((e: unknown) => e);
    await fake.waitForRequests(2);
    const started = Date.now();
    await fake.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await pending).toBeInstanceOf(APIConnectionError);
  });

  it('lists models and answers unknown routes with a 404 error body', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('fake-model');
    const err = await client.embeddings.create({ model: 'e', input: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
  });

  it('transcribes audio sent as multipart by the SDK (its bytes as text), or fails as told', async () => {
    const text = await client.audio.transcriptions.create({ file: await toFile(Buffer.from('hello from a voice note'), 'voice.ogg', { type: 'audio/ogg' }), model: 'whisper-1' });
    expect(text.text).toBe('hello from a voice note');
    expect(fake.transcriptions).toMatchObject([{ model: 'whisper-1', fileName: 'voice.ogg', size: 23, contentType: 'audio/ogg' }]);
    fake.setTranscriber(() => ({ status: 500, message: 'busy' }));
    await expect(client.audio.transcriptions.create({ file: await toFile(Buffer.from('x'), 'v.ogg'), model: 'whisper-1' })).rejects.toBeInstanceOf(APIError);
  });

  it('records image parts, and refuses them as a text-only model does when asked', async () => {
    const image = { type: 'image_url' as const, image_url: { url: 'data:image/png;base64,AAAA' } };
    await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'look' }, image] }] });
    expect(imagePartsOf(fake.requests[0]!)).toEqual([image]);
    fake.refuseImages();
    await expect(client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: [image] }] })).rejects.toThrow(BadRequestError);
    await expect(client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'text is fine' }] })).resolves.toBeDefined();
  });
});
