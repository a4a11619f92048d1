import type { Config } from '../config/schema.ts';
import { LlmError } from '../core/errors.ts';
import type { Logger } from '../log.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { OpenAiLlm, type ChatMessage, type Llm, type LlmReply, type OnText, type ToolSpec } from './llm.ts';

type LlmSettings = Config['llm'];

/** Told the outcome of every call to every model, e.g. for /metrics and the cost ledger. */
export interface LlmObserver {
  answered(model: string, seconds: number, usage: LlmReply['usage']): void;
  failed(model: string, seconds: number, error: LlmError): void;
}

interface Target {
  /** Endpoint and model: a breaker follows a model across config reloads. */
  key: string;
  model: string;
  settings: LlmSettings;
}

interface Slot {
  llm: Llm;
  breaker: CircuitBreaker;
  /** Replaced on every call: the client and the breaker read the config as it is now. */
  current: { settings: LlmSettings };
}

export interface FailoverOptions {
  settings: () => LlmSettings;
  log: Logger;
  observer?: LlmObserver;
  now?: () => number;
  /** The client for one model; OpenAiLlm unless told otherwise. */
  client?: (settings: () => LlmSettings) => Llm;
}

/**
 * llm.model, then each of llm.fallbacks in order: the next one is asked when a call failed with a
 * retryable error (after the SDK's own retries) or a 404 (model not found). Other refusals (400,
 * 401) are the request's or the key's fault and end the call. A model whose calls keep failing is
 * skipped for llm.cooldown_s (circuit breaker), then tried again by one call. Every reply says
 * which model gave it.
 */
export class FailoverLlm implements Llm {
  private readonly slots = new Map<string, Slot>();
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly options: FailoverOptions) {
    this.log = options.log.child({ mod: 'llm' });
    this.now = options.now ?? Date.now;
  }

  async chat(messages: ChatMessage[], tools: ToolSpec[], signal?: AbortSignal, onText?: OnText): Promise<LlmReply> {
    const chain = targetsOf(this.options.settings());
    const skipped: Target[] = [];
    let lastError: LlmError | undefined;
    for (const target of chain) {
      if (!this.slotFor(target).breaker.tryAcquire()) {
        skipped.push(target);
        continue;
      }
      const outcome = await this.attempt(target, messages, tools, signal, onText);
      if ('reply' in outcome) return outcome.reply;
      lastError = outcome.error;
      if (!outcome.next) throw lastError;
    }
    // every model that could be asked failed or is cooling down: the ones cooling down are still better than no answer
    for (const target of skipped) {
      const outcome = await this.attempt(target, messages, tools, signal, onText);
      if ('reply' in outcome) return outcome.reply;
      lastError = outcome.error;
      if (!outcome.next) throw lastError;
    }
    throw lastError ?? new LlmError('no LLM to ask (llm.model)', false);
  }

  private async attempt(target: Target, messages: ChatMessage[], tools: ToolSpec[], signal: AbortSignal | undefined, onText: OnText | undefined): Promise<{ reply: LlmReply } | { error: LlmError; next: boolean }> {
    const slot = this.slotFor(target);
    const started = this.now();
    const seconds = () => (this.now() - started) / 1000;
    try {
      const reply = await slot.llm.chat(messages, tools, signal, onText);
      this.options.observer?.answered(target.model, seconds(), reply.usage);
      if (slot.breaker.succeeded()) this.log.info({ model: target.model }, 'the model answers again: no longer skipped');
      return { reply: { ...reply, model: target.model } };
    } catch (err) {
      const error = err instanceof LlmError ? err : new LlmError(`the LLM call failed (${err instanceof Error ? err.message : String(err)})`, true, { cause: err });
      if (signal?.aborted) {
        slot.breaker.release();
        return { error, next: false };
      }
      this.options.observer?.failed(target.model, seconds(), error);
      if (!error.transient && error.status !== 404) {
        slot.breaker.release();
        return { error, next: false };
      }
      if (slot.breaker.failed()) {
        this.log.warn({ model: target.model, cooldownS: target.settings.cooldown_s, reason: error.message }, 'the model keeps failing: skipped for llm.cooldown_s, then tried again');
      }
      this.log.warn({ model: target.model, status: error.status, reason: error.message }, 'LLM call failed; asking the next model if there is one');
      return { error, next: true };
    }
  }

  private slotFor(target: Target): Slot {
    let slot = this.slots.get(target.key);
    if (!slot) {
      const current = { settings: target.settings };
      const client = this.options.client ?? ((settings) => new OpenAiLlm(settings));
      slot = { current, breaker: new CircuitBreaker(() => current.settings.cooldown_s * 1000, this.now), llm: client(() => current.settings) };
      this.slots.set(target.key, slot);
    }
    slot.current.settings = target.settings;
    return slot;
  }
}

/**
 * The models to ask, in order. A fallback without api_base uses llm.api_base and llm.api_key; one
 * with an api_base of its own gets only its own api_key: a key is never sent to another endpoint.
 */
function targetsOf(llm: LlmSettings): Target[] {
  const fallbacks = llm.fallbacks.map((fallback) => {
    const apiBase = fallback.api_base ?? llm.api_base;
    const apiKey = fallback.api_key ?? (fallback.api_base === undefined ? llm.api_key : undefined);
    return { key: `${apiBase} ${fallback.model}`, model: fallback.model, settings: { ...llm, model: fallback.model, api_base: apiBase, api_key: apiKey } };
  });
  return [{ key: `${llm.api_base} ${llm.model}`, model: llm.model, settings: llm }, ...fallbacks];
}
