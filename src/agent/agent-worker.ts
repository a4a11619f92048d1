import { readFileSync, statSync } from 'node:fs';
import type { EventBus } from '../core/bus.ts';
import { createEvent, InboundEvent, OutboundEvent, TypingEvent } from '../core/events.ts';
import { isStorageTrouble, LlmError } from '../core/errors.ts';
import { pause } from '../core/pause.ts';
import type { Worker } from '../core/worker.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { isOwner } from '../channels/access.ts';
import type { PairingStore } from '../channels/pairing-store.ts';
import { runAccessCommand } from './access-commands.ts';
import { burstContent, gatherBurst } from './bursts.ts';
import { runCommand } from './commands.ts';
import { compactSession, estimateTokens, needsCompaction, summaryMessage } from './compaction.ts';
import { draftPublisher, replyIdFor } from './drafts.ts';
import type { UsageLimiter } from './limits.ts';
import type { ChatMessage, Llm } from './llm.ts';
import { runTurn } from './loop.ts';
import { toChat, type SessionStore, type SessionWindow, type StoredMessage } from './sessions.ts';
import { withSkills, type SkillCatalogue } from './skills.ts';
import type { ToolRegistry } from './tools/registry.ts';

const DEFAULT_SYSTEM_PROMPT = 'You are a helpful assistant in a chat. Answer concisely.';
const HOUR_MS = 60 * 60_000;
/**
 * AGENT.md and the skills folder are looked at again at most this often, so an edit applies within
 * a second. Not on every turn: their stats cost ~0.1 ms on the path of every reply.
 */
const PROMPT_RECHECK_MS = 1_000;
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
  /** For owners' /pair. */
  pairing?: PairingStore;
  /** limits.per_user / per_chat, checked before each turn; /usage. */
  usage?: UsageLimiter;
  log: Logger;
}

/** Inbound → the session's history → the LLM and its tools → Outbound. */
export class AgentWorker implements Worker {
  readonly name = 'agent';
  private readonly abort = new AbortController();
  private readonly handler = (event: InboundEvent) => this.handle(event);
  private llmErrors: number[] = [];
  private prompt?: { mtimeMs: number; text: string };
  private system?: { checkedAt: number; text: string };
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
    const owner = isOwner(this.deps.config(), event.source);
    let command: string | undefined;
    try {
      command =
        runAccessCommand(event.content, { source: event.source, owner, pairing: this.deps.pairing, usage: this.deps.usage }) ??
        (await runCommand(event.content, {
          sessionId: event.sessionId,
          sessions: this.deps.sessions,
          model: this.deps.config().llm.model,
          compact: () => this.compactNow(event.sessionId),
        }));
    } catch (error) {
      // e.g. /clear on a full disk: answered, not left unacknowledged until the next start
      log.error({ err: error, sessionId: event.sessionId, eventId: event.id }, 'command failed; telling the user');
      await this.reply([event], userMessageFor(error), 'internal');
      return;
    }
    if (command !== undefined) {
      await this.reply([event], command);
      return;
    }
    if (!(await this.admit(event, owner))) return;
    let burst = [event];
    try {
      const recorded = recordedTurn((await this.deps.sessions.load(event.sessionId)).messages, event.id);
      if (recorded) {
        burst.push(...bus.takeQueued(event.sessionId, (queued) => recorded.eventIds.includes(queued.id)));
        await this.reply(burst, recorded.reply, undefined, recorded.replyTo);
        return;
      }
      const gathered = await gatherBurst(bus, event, this.deps.config().agent.debounce_ms, this.abort.signal, (queued) => this.mergeable(queued, owner));
      if (!gathered) return; // stopping: the burst stays journaled for the next start
      burst = gathered;
      await bus.publish(createEvent<TypingEvent>({ type: 'typing', sessionId: event.sessionId, source: event.source, active: true }));
      await this.turn(burst);
    } catch (error) {
      if (this.abort.signal.aborted) return;
      if (error instanceof LlmError) this.llmErrors.push(Date.now());
      const { max_turn_retries, retry_backoff_ms } = this.deps.config().agent;
      const transient = error instanceof LlmError && error.transient;
      if (transient && event.retryCount < max_turn_retries) {
        const delay = retry_backoff_ms * 2 ** event.retryCount;
        log.warn({ err: error, sessionId: event.sessionId, eventId: event.id, retryCount: event.retryCount + 1, delayMs: delay }, 'LLM turn failed; trying again');
        if (!(await pause(delay, this.abort.signal))) return;
        // the whole burst goes back, in order, ahead of what came since
        for (const queued of [...burst].reverse()) await bus.republish({ ...queued, retryCount: event.retryCount + 1 });
        return;
      }
      log.error({ err: error, sessionId: event.sessionId, eventId: event.id, retryCount: event.retryCount }, 'LLM turn failed; telling the user');
      await this.reply(burst, userMessageFor(error), error instanceof LlmError ? 'llm' : 'internal');
    } finally {
      await bus.publish(createEvent<TypingEvent>({ type: 'typing', sessionId: event.sessionId, source: event.source, active: false }));
    }
  }

  /** One LLM turn for a burst of messages: recorded in the session, then answered; logged once the answer is on its way. */
  private async turn(burst: InboundEvent[]): Promise<void> {
    const { llm, sessions, tools, config } = this.deps;
    const first = burst[0]!;
    const user = burstContent(burst);
    const system = this.systemPrompt();
    const window = await this.windowFor(first.sessionId, system, user);
    const result = await runTurn({
      llm,
      tools,
      system,
      history: historyOf(window),
      user,
      maxRounds: config().llm.max_tool_rounds,
      signal: this.abort.signal,
      onText: draftPublisher(this.deps.bus, first),
    });
    const model = result.model ?? config().llm.model;
    this.deps.usage?.spent(first.source, result.usage, model);
    const ts = Date.now();
    const eventIds = burst.length > 1 ? { eventIds: burst.map((e) => e.id) } : {};
    const last = result.added.length - 1;
    const turn: StoredMessage[] = [{ role: 'user', content: user, ts, eventId: first.id, ...eventIds }, ...result.added.map((m, i) => (i === last ? { ...m, ts, model } : { ...m, ts }))];
    let note = '';
    try {
      await sessions.appendTurn(first.sessionId, turn);
    } catch (error) {
      if (!isStorageTrouble(error)) throw error;
      // the answer is paid for and useful: sent, with a word that it will be forgotten
      this.deps.log.error({ err: error, sessionId: first.sessionId, eventId: first.id }, 'turn answered but not saved in the session history (disk trouble)');
      note = NOT_SAVED_NOTE;
    }
    await this.reply(burst, result.reply + note);
    this.deps.log.info({ sessionId: first.sessionId, eventId: first.id, messages: burst.length, tokens: result.tokens, rounds: result.added.length, model }, 'turn done');
  }

  /** A queued message joins the burst only if the limits let it in (and it is counted then); else it waits for its own turn and its notice. */
  private mergeable(event: InboundEvent, owner: boolean): boolean {
    const { usage } = this.deps;
    if (!usage || event.retryCount > 0) return true;
    return usage.wouldAdmit(event.source, owner) && usage.admit(event.source, owner).ok;
  }

  /** Over a limit: no LLM call; the first message of the window gets the notice, the rest only an ack. Retries were admitted already. */
  private async admit(event: InboundEvent, owner: boolean): Promise<boolean> {
    const admission = event.retryCount > 0 ? undefined : this.deps.usage?.admit(event.source, owner);
    if (!admission || admission.ok) return true;
    this.deps.log.info({ sessionId: event.sessionId, eventId: event.id, userId: event.source.userId, scope: admission.scope, limit: admission.limit }, 'message over a limit; not answered');
    if (admission.notice) await this.reply([event], admission.notice);
    else await this.deps.bus.ack(event.id);
    return false;
  }

  /**
   * The session's window for the next request; when that request would come near
   * llm.context_window, the older turns are summarised first. A failed summary costs nothing
   * but the saving: the turn goes on with the window as it was.
   */
  private async windowFor(sessionId: string, system: string, user: string): Promise<SessionWindow> {
    const { llm, sessions, tools, config, log } = this.deps;
    const window = await sessions.load(sessionId);
    const contextWindow = config().llm.context_window;
    const tokens = estimateTokens([{ role: 'system', content: system }, ...historyOf(window), { role: 'user', content: user }], tools.specs());
    if (!needsCompaction(tokens, contextWindow)) return window;
    try {
      const done = await compactSession({ llm, sessions, sessionId, window, contextWindow, signal: this.abort.signal });
      if (!done) return window;
      log.info({ sessionId, tokens, contextWindow, ...done }, 'session compacted: older messages summarised');
      return await sessions.load(sessionId);
    } catch (error) {
      if (this.abort.signal.aborted) throw error;
      log.warn({ err: error, sessionId, tokens, contextWindow }, 'compaction failed; answering with the whole window');
      return window;
    }
  }

  /** /compact: summarises the older messages now, whatever their size. */
  private async compactNow(sessionId: string): Promise<string> {
    const { llm, sessions, config, log } = this.deps;
    const window = await sessions.load(sessionId);
    const done = await compactSession({ llm, sessions, sessionId, window, contextWindow: config().llm.context_window, signal: this.abort.signal, force: true });
    if (!done) return 'Nothing to condense: no messages since the conversation started or was last condensed.';
    log.info({ sessionId, ...done }, 'session compacted on request');
    return `Condensed ${done.summarised} earlier messages into a summary; the last ${done.kept} stay as they were.`;
  }

  /**
   * Publishes the answer (its id derives from the first inbound's, so a replay cannot publish it
   * twice), then acks every inbound it answers.
   */
  private async reply(burst: InboundEvent[], content: string, error?: string, replyTo = burst[0]!.id): Promise<void> {
    const first = burst[0]!;
    await this.deps.bus.publish(
      createEvent<OutboundEvent>({
        id: replyIdFor(replyTo),
        type: 'outbound',
        sessionId: first.sessionId,
        source: first.source,
        content,
        inReplyTo: replyTo,
        ...(error ? { error } : {}),
      }),
    );
    await Promise.all(burst.map((event) => this.deps.bus.ack(event.id)));
  }

  /** AGENT.md and the skills section, looked at again at most every PROMPT_RECHECK_MS. */
  private systemPrompt(): string {
    const now = Date.now();
    if (this.system === undefined || now - this.system.checkedAt >= PROMPT_RECHECK_MS) {
      this.system = { checkedAt: now, text: withSkills(this.agentPrompt(), this.deps.skills) };
    }
    return this.system.text;
  }

  /**
   * AGENT.md, read again only when it changed. Sync: a stat of a local file takes microseconds, the
   * async one a thread-pool round trip.
   */
  private agentPrompt(): string {
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

/** The history the LLM gets: the summary of what came before the window, if any, then the window. */
function historyOf(window: SessionWindow): ChatMessage[] {
  const messages = window.messages.map(toChat);
  return window.summary === undefined ? messages : [summaryMessage(window.summary), ...messages];
}

/**
 * After a crash between recording a turn and acknowledging it, the recorded answer is sent, not a
 * new one: found by any event id of the burst it answered, and sent under the burst's first id.
 */
function recordedTurn(messages: StoredMessage[], eventId: string): { reply: string; replyTo: string; eventIds: string[] } | undefined {
  const at = messages.findIndex((m) => m.eventId === eventId || m.eventIds?.includes(eventId));
  if (at < 0) return undefined;
  const last = messages.slice(at + 1).findLast((m) => m.role === 'assistant' && !('tool_calls' in m && m.tool_calls?.length));
  if (typeof last?.content !== 'string') return undefined;
  const user = messages[at]!;
  return { reply: last.content, replyTo: user.eventId ?? eventId, eventIds: user.eventIds ?? [eventId] };
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
