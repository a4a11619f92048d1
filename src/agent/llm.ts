import OpenAI from 'openai';
import { LlmError } from '../core/errors.ts';
import type { Config } from '../config/schema.ts';

export interface ToolCall {
  id: string;
  name: string;
  /** JSON text as the model wrote it; may not parse. */
  arguments: string;
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
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
}

/** The LLM provider seam: anything that answers a chat with text or tool calls. */
export interface Llm {
  chat(messages: ChatMessage[], tools: ToolSpec[], signal?: AbortSignal): Promise<LlmReply>;
}

type LlmSettings = Config['llm'];

/** Any OpenAI-compatible chat-completions endpoint (OpenAI, OpenRouter, Ollama, vLLM, LM Studio). */
export class OpenAiLlm implements Llm {
  private client?: OpenAI;
  private clientKey = '';

  /** `settings` is read on every call, so a reloaded config applies to the next message. */
  constructor(private readonly settings: () => LlmSettings) {}

  async chat(messages: ChatMessage[], tools: ToolSpec[], signal?: AbortSignal): Promise<LlmReply> {
    const llm = this.settings();
    // the SDK adds a listener to the signal it is given and never removes it: give it one per call
    const call = new AbortController();
    const cancel = () => call.abort();
    signal?.addEventListener('abort', cancel, { once: true });
    let completion: OpenAI.ChatCompletion;
    try {
      completion = await this.clientFor(llm).chat.completions.create(
        {
          model: llm.model,
          messages: messages.map(toOpenAi),
          ...(tools.length > 0 ? { tools: tools.map((t) => ({ type: 'function' as const, function: t })) } : {}),
          ...(llm.temperature !== undefined ? { temperature: llm.temperature } : {}),
        },
        { signal: call.signal },
      );
    } catch (error) {
      throw toLlmError(error);
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
    const choice = completion.choices?.[0];
    if (!choice?.message) throw new LlmError('the LLM answered without a message (choices[0].message missing)', true);
    const toolCalls = (choice.message.tool_calls ?? []).flatMap((call) =>
      call.type === 'function' ? [{ id: call.id, name: call.function.name, arguments: call.function.arguments ?? '' }] : [],
    );
    return {
      content: choice.message.content ?? null,
      toolCalls,
      ...(completion.usage ? { usage: { promptTokens: completion.usage.prompt_tokens, completionTokens: completion.usage.completion_tokens } } : {}),
    };
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
      });
      this.clientKey = key;
    }
    return this.client;
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
  if (error instanceof OpenAI.APIError) {
    const status = error.status ?? 0;
    const transient = status === 408 || status === 409 || status === 429 || status >= 500;
    const hint = status === 401 ? ': check llm.api_key or OPENAI_API_KEY' : status === 404 ? ': check llm.model and llm.api_base' : '';
    return new LlmError(`the LLM answered HTTP ${status}${hint}`, transient, { cause: error });
  }
  // a body that is not JSON, a stream cut in the middle: worth another try
  const message = error instanceof Error ? error.message : String(error);
  return new LlmError(`the LLM's answer could not be read (${message})`, true, { cause: error });
}
