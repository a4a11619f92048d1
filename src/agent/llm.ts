import OpenAI from 'openai';
import { LlmError } from '../core/errors.ts';
import { keepAliveFetch } from './keep-alive-fetch.ts';
import type { Config } from '../config/schema.ts';

export interface ToolCall {
  id: string;
  name: string;
  /** JSON text as the model wrote it; may not parse. */
  arguments: string;
}

/** An image in a user message (OpenAI chat format): a data URL, built for one request from a saved file. */
export interface ImagePart {
  type: 'image_url';
  image_url: { url: string };
}
export type UserPart = { type: 'text'; text: string } | ImagePart;

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | UserPart[] }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
}

export interface LlmReply {
  content: string | null;
  toolCalls: ToolCall[];
  usage?: { promptTokens: number; completionTokens: number };
  /** The stream broke off after some text: `content` is what arrived, not the whole answer. */
  interrupted?: boolean;
  /** The configured model that answered (llm.model or a fallback), when more than one may. */
  model?: string;
}

/** Told the text of a streamed answer so far, each time more of it arrives. */
export type OnText = (textSoFar: string) => void;

/** The LLM provider seam: anything that answers a chat with text or tool calls. */
export interface Llm {
  /** With `llm.stream`, `onText` sees the answer grow; the reply is the same as without it. */
  chat(messages: ChatMessage[], tools: ToolSpec[], signal?: AbortSignal, onText?: OnText): Promise<LlmReply>;
}

type LlmSettings = Config['llm'];

/** Any OpenAI-compatible chat-completions endpoint (OpenAI, OpenRouter, Ollama, vLLM, LM Studio). */
export class OpenAiLlm implements Llm {
  private client?: OpenAI;
  private clientKey = '';

  /** `settings` is read on every call, so a reloaded config applies to the next message. */
  constructor(private readonly settings: () => LlmSettings) {}

  async chat(messages: ChatMessage[], tools: ToolSpec[], signal?: AbortSignal, onText?: OnText): Promise<LlmReply> {
    const llm = this.settings();
    // the SDK adds a listener to the signal it is given and never removes it: give it one per call
    const call = new AbortController();
    const cancel = () => call.abort();
    signal?.addEventListener('abort', cancel, { once: true });
    const body = {
      model: llm.model,
      messages: messages.map(toOpenAi),
      ...(tools.length > 0 ? { tools: tools.map((t) => ({ type: 'function' as const, function: t })) } : {}),
      ...(llm.temperature !== undefined ? { temperature: llm.temperature } : {}),
    };
    try {
      if (llm.stream) return await this.streamed(llm, body, call, onText);
      return replyOf(await this.clientFor(llm).chat.completions.create(body, { signal: call.signal }));
    } catch (error) {
      throw toLlmError(error);
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  }

  private async streamed(llm: LlmSettings, body: Omit<OpenAI.ChatCompletionCreateParamsNonStreaming, 'stream'>, call: AbortController, onText?: OnText): Promise<LlmReply> {
    const stream = await this.clientFor(llm).chat.completions.create({ stream: true, stream_options: { include_usage: true }, ...body }, { signal: call.signal });
    const answer = new StreamedAnswer();
    // the SDK's timeout ends once the headers are in: a stream that stalls later is ended here
    let stalled = false;
    const stall = () => {
      stalled = true;
      call.abort();
    };
    const timer = setTimeout(stall, llm.timeout_s * 1000);
    let failure: unknown;
    try {
      for await (const chunk of stream) {
        timer.refresh();
        if (answer.add(chunk) && answer.content) onText?.(answer.content);
      }
    } catch (error) {
      failure = error;
    } finally {
      clearTimeout(timer);
    }
    // an abort ends the SDK's iteration quietly: ours (a stop) is told apart from a stalled stream
    if (call.signal.aborted && !stalled) throw new LlmError('the LLM call was cancelled', false);
    if (failure === undefined && !stalled && answer.finished) return answer.reply();
    // text has been shown while it came: it is kept, with a note, rather than asked for again
    if (answer.content && answer.toolCalls.size === 0) return { ...answer.reply(), interrupted: true };
    if (stalled) throw new LlmError('the LLM stopped in the middle of its answer (llm.timeout_s)', true);
    throw failure ?? new LlmError('the LLM ended its answer stream before the answer was complete', true);
  }

  private clientFor(llm: LlmSettings): OpenAI {
    const key = JSON.stringify([llm.api_base, llm.api_key, llm.timeout_s, llm.max_retries]);
    if (!this.client || key !== this.clientKey) {
      this.client = new OpenAI({
        baseURL: llm.api_base,
        // local servers (Ollama, vLLM) take any key, but the SDK insists on one
        apiKey: llm.api_key || 'not-needed',
        timeout: llm.timeout_s * 1000,
        maxRetries: llm.max_retries,
        // it would print a chunk it cannot parse to the console; the error it throws is logged by us
        logLevel: 'off',
        fetch: keepAliveFetch,
      });
      this.clientKey = key;
    }
    return this.client;
  }
}

function replyOf(completion: OpenAI.ChatCompletion): LlmReply {
  const choice = completion.choices?.[0];
  if (!choice?.message) throw new LlmError('the LLM answered without a message (choices[0].message missing)', true);
  const toolCalls = (choice.message.tool_calls ?? []).flatMap((call) =>
    call.type === 'function' ? [{ id: call.id, name: call.function.name, arguments: call.function.arguments ?? '' }] : [],
  );
  return { content: choice.message.content ?? null, toolCalls, ...usageOf(completion.usage) };
}

function usageOf(usage: OpenAI.CompletionUsage | null | undefined): Pick<LlmReply, 'usage'> {
  return usage ? { usage: { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens } } : {};
}

/** A streamed answer put together from its chunks: text pieces, tool calls in fragments, usage last. */
class StreamedAnswer {
  content = '';
  readonly toolCalls = new Map<number, ToolCall>();
  finished = false;
  private usage: OpenAI.CompletionUsage | undefined;

  /** Takes one chunk; true when the text grew. */
  add(chunk: OpenAI.ChatCompletionChunk): boolean {
    if (chunk.usage) this.usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (!choice) return false;
    if (choice.finish_reason) this.finished = true;
    for (const part of choice.delta?.tool_calls ?? []) {
      const call = this.toolCalls.get(part.index) ?? { id: '', name: '', arguments: '' };
      if (part.id) call.id = part.id;
      if (part.function?.name) call.name += part.function.name;
      if (part.function?.arguments) call.arguments += part.function.arguments;
      this.toolCalls.set(part.index, call);
    }
    const text = choice.delta?.content;
    if (!text) return false;
    this.content += text;
    return true;
  }

  reply(): LlmReply {
    const toolCalls = [...this.toolCalls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
    return { content: this.content || (toolCalls.length > 0 ? null : ''), toolCalls, ...usageOf(this.usage) };
  }
}

function toOpenAi(message: ChatMessage): OpenAI.ChatCompletionMessageParam {
  if (message.role !== 'assistant' || !message.tool_calls?.length) return message as OpenAI.ChatCompletionMessageParam;
  return {
    role: 'assistant',
    content: message.content,
    tool_calls: message.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
  };
}

/** Maps the SDK's errors (after its own retries) to an LlmError whose message is safe to log. */
function toLlmError(error: unknown): LlmError {
  if (error instanceof LlmError) return error;
  if (error instanceof OpenAI.APIConnectionTimeoutError) return new LlmError('the LLM did not answer in time (llm.timeout_s)', true, { cause: error });
  if (error instanceof OpenAI.APIConnectionError) return new LlmError(`could not reach the LLM at llm.api_base (${error.message})`, true, { cause: error });
  if (error instanceof OpenAI.APIUserAbortError) return new LlmError('the LLM call was cancelled', false, { cause: error });
  if (error instanceof OpenAI.APIError && error.status === undefined) {
    // an `error` event inside a stream: the provider broke off, as with a 5xx
    return new LlmError(`the LLM broke off its answer stream (${error.message})`, true, { cause: error });
  }
  if (error instanceof OpenAI.APIError) {
    const status = error.status ?? 0;
    // what another try can change; 400, 401, 403, 404, 413, 422 fail the same way again
    const transient = status === 408 || status === 409 || status === 429 || status >= 500;
    const hint = status === 404 ? ': check llm.model and llm.api_base' : '';
    const retryAfterMs = status === 429 ? retryAfterOf(error.headers) : undefined;
    return new LlmError(`the LLM answered HTTP ${status}${hint}`, transient, { cause: error, status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }
  // a body that is not JSON, a stream cut in the middle: worth another try
  const message = error instanceof Error ? error.message : String(error);
  return new LlmError(`the LLM's answer could not be read (${message})`, true, { cause: error });
}

/** The wait a 429 asked for: `retry-after-ms`, or `retry-after` in seconds or as a date. */
function retryAfterOf(headers: Headers | undefined): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms)) return Math.max(0, ms);
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number.parseFloat(value);
  const wait = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(wait) ? Math.max(0, wait) : undefined;
}
