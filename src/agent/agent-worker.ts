import { readFileSync, statSync } from 'node:fs';
import type { EventBus } from '../core/bus.ts';
import { createEvent, InboundEvent, OutboundEvent, TypingEvent } from '../core/events.ts';
import { isStorageTrouble, LlmError } from '../core/errors.ts';
import type { Worker } from '../core/worker.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { runCommand } from './commands.ts';
import { draftPublisher, replyIdFor } from './drafts.ts';
import type { Llm } from './llm.ts';
import { runTurn } from './loop.ts';
import type { SessionStore, StoredMessage } from './sessions.ts';
import { withSkills, type SkillCatalogue } from './skills.ts';
import type { ToolRegistry } from './tools/registry.ts';

const DEFAULT_SYSTEM_PROMPT = 'You are a helpful assistant in a chat. Answer concisely.';
const HOUR_MS = 60 * 60_000;
/** Added to an answer the disk would not take into the session history: the user should know it is forgotten. */
const NOT_SAVED_NOTE =
  "\n\n(I couldn't save this conversation: the disk I keep it on is full or read-only, so I won't remember this exchange. My owner needs to free space or fix the disk.)";

export interface AgentWorkerDeps {
  bus: EventBus;
  llm: Llm;
  sessions: SessionStore;
  tools: ToolRegistry;
  config: () => Config;
  /** AGENT.md of the workspace: the system prompt, re-read each turn so edits apply at once. */
  systemPromptFile: string;
  /** The workspace's skills: their names and descriptions follow AGENT.md in the system prompt. */
  skills?: SkillCatalogue;
  log: Logger;
}

/** Inbound → the session's history → the LLM and its tools → Outbound. */
export class AgentWorker implements Worker {
  readonly name = 'agent';
  private readonly abort = new AbortController();
  private readonly handler = (event: InboundEvent) => this.handle(event);
  private llmErrors: number[] = [];
  private prompt?: { mtimeMs: number; text: string };
  private readonly lastActive = new Map<string, number>();

  constructor(private readonly deps: AgentWorkerDeps) {}

  async start(): Promise<void> {
    this.deps.bus.subscribe(InboundEvent, this.handler);
  }

  async stop(): Promise<void> {
    this.deps.bus.unsubscribe(InboundEvent, this.handler);
  }

  /** Cancels LLM calls and retry waits that are running; their events stay pending for the next start. */
  cancelInFlight(): void {
    this.abort.abort();
  }

  /** For `npm run status`: failed LLM calls and sessions that wrote, both over the last hour. */
  stats(now = Date.now()): { llmErrorsLastHour: number; sessionsActiveLastHour: number } {
    this.llmErrors = this.llmErrors.filter((t) => now - t < HOUR_MS);
    for (const [sessionId, at] of this.lastActive) if (now - at >= HOUR_MS) this.lastActive.delete(sessionId);
    return { llmErrorsLastHour: this.llmErrors.length, sessionsActiveLastHour: this.lastActive.size };
  }

  private async handle(event: InboundEvent): Promise<void> {
    const { bus, log } = this.deps;
    this.lastActive.delete(event.sessionId);
    this.lastActive.set(event.sessionId, Date.now());
    let command: string | undefined;
    try {
      command = await runCommand(event.content, { sessionId: event.sessionId, sessions: this.deps.sessions, model: this.deps.config().llm.model });
    } catch (error) {
      // e.g. /clear on a full disk: answered, not left unacknowledged until the next start
      log.error({ err: error, sessionId: event.sessionId, eventId: event.id }, 'command failed; telling the user');
      await this.reply(event, userMessageFor(error), 'internal');
      return;
    }
    if (command !== undefined) {
      await this.reply(event, command);
      return;
    }
    await bus.publish(createEvent<TypingEvent>({ type: 'typing', sessionId: event.sessionId, source: event.source, active: true }));
    try {
      const { messages } = await this.deps.sessions.load(event.sessionId);
      const recorded = recordedReply(messages, event.id);
      if (recorded !== undefined) await this.reply(event, recorded);
      else await this.turn(event, messages);
    } catch (error) {
      if (this.abort.signal.aborted) return;
      if (error instanceof LlmError) this.llmErrors.push(Date.now());
      const { max_turn_retries, retry_backoff_ms } = this.deps.config().agent;
      const transient = error instanceof LlmError && error.transient;
      if (transient && event.retryCount < max_turn_retries) {
        const delay = retry_backoff_ms * 2 ** event.retryCount;
        log.warn({ err: error, sessionId: event.sessionId, eventId: event.id, retryCount: event.retryCount + 1, delayMs: delay }, 'LLM turn failed; trying again');
        if (!(await sleep(delay, this.abort.signal))) return;
        await bus.republish({ ...event, retryCount: event.retryCount + 1 });
        return;
      }
      log.error({ err: error, sessionId: event.sessionId, eventId: event.id, retryCount: event.retryCount }, 'LLM turn failed; telling the user');
      await this.reply(event, userMessageFor(error), error instanceof LlmError ? 'llm' : 'internal');
    } finally {
      await bus.publish(createEvent<TypingEvent>({ type: 'typing', sessionId: event.sessionId, source: event.source, active: false }));
    }
  }

  /** One LLM turn: recorded in the session, then answered; logged once the answer is on its way. */
  private async turn(event: InboundEvent, history: StoredMessage[]): Promise<void> {
    const { llm, sessions, tools, config } = this.deps;
    const result = await runTurn({
      llm,
      tools,
      system: withSkills(this.systemPrompt(), this.deps.skills),
      history: history.map(({ ts: _ts, eventId: _id, ...message }) => message),
      user: event.content,
      maxRounds: config().llm.max_tool_rounds,
      signal: this.abort.signal,
      onText: draftPublisher(this.deps.bus, event),
    });
    const ts = Date.now();
    const turn: StoredMessage[] = [{ role: 'user', content: event.content, ts, eventId: event.id }, ...result.added.map((m) => ({ ...m, ts }))];
    let note = '';
    try {
      await sessions.appendTurn(event.sessionId, turn);
    } catch (error) {
      if (!isStorageTrouble(error)) throw error;
      // the answer is paid for and useful: sent, with a word that it will be forgotten
      this.deps.log.error({ err: error, sessionId: event.sessionId, eventId: event.id }, 'turn answered but not saved in the session history (disk trouble)');
      note = NOT_SAVED_NOTE;
    }
    await this.reply(event, result.reply + note);
    this.deps.log.info({ sessionId: event.sessionId, eventId: event.id, tokens: result.tokens, rounds: result.added.length }, 'turn done');
  }

  /** Publishes the answer (its id derives from the inbound's, so a replay cannot publish it twice), then acks the inbound. */
  private async reply(event: InboundEvent, content: string, error?: string): Promise<void> {
    await this.deps.bus.publish(
      createEvent<OutboundEvent>({
        id: replyIdFor(event),
        type: 'outbound',
        sessionId: event.sessionId,
        source: event.source,
        content,
        inReplyTo: event.id,
        ...(error ? { error } : {}),
      }),
    );
    await this.deps.bus.ack(event.id);
  }

  /**
   * AGENT.md, read again only when it changed, so an edit applies to the next message. Sync: a stat
   * of a local file takes microseconds, the async one a thread-pool round trip on every turn.
   */
  private systemPrompt(): string {
    try {
      const { mtimeMs } = statSync(this.deps.systemPromptFile);
      if (this.prompt?.mtimeMs !== mtimeMs) {
        this.prompt = { mtimeMs, text: readFileSync(this.deps.systemPromptFile, 'utf8').trim() || DEFAULT_SYSTEM_PROMPT };
      }
      return this.prompt.text;
    } catch {
      return DEFAULT_SYSTEM_PROMPT;
    }
  }
}

/** After a crash between recording a turn and acknowledging it, the recorded answer is sent, not a new one. */
function recordedReply(messages: StoredMessage[], eventId: string): string | undefined {
  const at = messages.findIndex((m) => m.eventId === eventId);
  if (at < 0) return undefined;
  const last = messages.slice(at + 1).findLast((m) => m.role === 'assistant' && !('tool_calls' in m && m.tool_calls?.length));
  return typeof last?.content === 'string' ? last.content : undefined;
}

function userMessageFor(error: unknown): string {
  if (error instanceof LlmError) {
    return error.transient
      ? "Sorry, I couldn't reach my language model just now. Please try again in a minute."
      : `Sorry, my language model refused the request (${error.message.replace(/^the LLM /, '')}). The bot's owner may need to fix its settings.`;
  }
  if (isStorageTrouble(error)) {
    return "Sorry, I couldn't save that: the disk I keep our conversations on is full or read-only. My owner needs to free space or fix the disk.";
  }
  return 'Sorry, something went wrong on my side while answering. Please try again.';
}

/** Resolves true after `ms`, or false at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
