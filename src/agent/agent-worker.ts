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
import { burstContent, gatherBurst, joinsBurst } from './bursts.ts';
import { runCommand } from './commands.ts';
import { ContextWindows } from './context-window.ts';
import { DraftPublisher, FIRST_DRAFT_AFTER_MS, replyIdFor } from './drafts.ts';
import { failureReply, ownerFix } from './failure-replies.ts';
import type { UsageLimiter } from './limits.ts';
import { historyOf, recordedTurn } from './history.ts';
import type { Llm } from './llm.ts';
import type { TurnResult } from './loop.ts';
import { hasFiles, prepareMedia, runTurnSeeing, textMedia, withNotices, type TurnMedia } from './media-turn.ts';
import type { MediaIntake } from '../media/intake.ts';
import type { SessionStore, StoredMessage } from './sessions.ts';
import type { SkillCatalogue } from './skills.ts';
import { SystemPrompt } from './system-prompt.ts';
import { withMemory, type MemoryFiles } from './memory.ts';
import { runPersonalCommand } from './personal-commands.ts';
import type { ScheduleBook } from '../schedules/schedule-book.ts';
import type { ToolRegistry } from './tools/registry.ts';

const HOUR_MS = 60 * 60_000;
/** A 429's retry-after is honoured between turn retries up to this long; beyond, the usual backoff applies. */
const MAX_RETRY_AFTER_MS = 60_000;
/** Added to an answer the disk would not take into the session history: the user should know it is forgotten. */
const NOT_SAVED_NOTE =
  "\n\n(I couldn't save this conversation: the disk I keep it on is full or read-only, so I won't remember this exchange. My owner needs to free space or fix the disk.)";
/**
 * An answer cancelled for more messages is started again at most this often in one turn; messages
 * after that are the next turn. Each cancelled call may be billed for its prompt.
 */
const MAX_RESTARTS = 5;

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
  /** MEMORY.md and memory/: in the system prompt of private chats; /forget. */
  memory?: MemoryFiles;
  /** For /schedules. */
  schedules?: ScheduleBook;
  /** Photos, voice notes and files users send; without it (the terminal chat) messages are text. */
  media?: MediaIntake;
  log: Logger;
  /** How long the model writes before its answer shows as a draft (default FIRST_DRAFT_AFTER_MS). */
  firstDraftAfterMs?: number;
}

/** Inbound → the session's history → the LLM and its tools → Outbound. */
export class AgentWorker implements Worker {
  readonly name = 'agent';
  private readonly abort = new AbortController();
  private readonly handler = (event: InboundEvent) => this.handle(event);
  private llmErrors: number[] = [];
  private readonly systemPrompt: SystemPrompt;
  private readonly windows: ContextWindows;
  private readonly lastActive = new Map<string, number>();
  /** The owner was told in the log which setting to fix; told again after the LLM worked meanwhile. */
  private ownerTold = false;

  constructor(private readonly deps: AgentWorkerDeps) {
    this.systemPrompt = new SystemPrompt(deps.systemPromptFile, deps.skills);
    this.windows = new ContextWindows({ llm: deps.llm, sessions: deps.sessions, tools: deps.tools, contextWindow: () => deps.config().llm.context_window, log: deps.log });
  }

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
        runPersonalCommand(event.content, { actor: { source: event.source, sessionId: event.sessionId, owner }, memory: this.deps.memory, schedules: this.deps.schedules }) ??
        (await runCommand(event.content, {
          sessionId: event.sessionId,
          sessions: this.deps.sessions,
          model: this.deps.config().llm.model,
          compact: () => this.windows.compactNow(event.sessionId, this.abort.signal),
        }));
    } catch (error) {
      // e.g. /clear on a full disk: answered, not left unacknowledged until the next start
      log.error({ err: error, sessionId: event.sessionId, eventId: event.id }, 'command failed; telling the user');
      await this.reply([event], failureReply(error), 'internal');
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
      // at once: the channel shows it only if the answer takes longer than its grace period
      await bus.publish(createEvent<TypingEvent>({ type: 'typing', sessionId: event.sessionId, source: event.source, active: true }));
      const gathered = await gatherBurst(bus, event, this.deps.config().agent.debounce_ms, this.abort.signal, (queued) => this.mergeable(queued, owner));
      if (!gathered) return; // stopping: the burst stays journaled for the next start
      burst = gathered.burst;
      log.debug({ sessionId: event.sessionId, eventId: event.id, messages: burst.length, waitedMs: gathered.waitedMs }, 'turn started');
      await this.turn(burst, owner);
    } catch (error) {
      if (this.abort.signal.aborted) return;
      if (error instanceof LlmError) this.llmErrors.push(Date.now());
      const { max_turn_retries, retry_backoff_ms } = this.deps.config().agent;
      const transient = error instanceof LlmError && error.transient;
      if (transient && event.retryCount < max_turn_retries) {
        const delay = Math.max(retry_backoff_ms * 2 ** event.retryCount, Math.min(error.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
        log.warn({ err: error, sessionId: event.sessionId, eventId: event.id, retryCount: event.retryCount + 1, delayMs: delay }, 'LLM turn failed; trying again');
        if (!(await pause(delay, this.abort.signal))) return;
        // the whole burst goes back, in order, ahead of what came since
        for (const queued of [...burst].reverse()) await bus.republish({ ...queued, retryCount: event.retryCount + 1 });
        return;
      }
      log.error({ err: error, sessionId: event.sessionId, eventId: event.id, retryCount: event.retryCount }, 'LLM turn failed; telling the user');
      this.tellOwner(error);
      await this.reply(burst, failureReply(error), error instanceof LlmError ? 'llm' : 'internal');
    } finally {
      await bus.publish(createEvent<TypingEvent>({ type: 'typing', sessionId: event.sessionId, source: event.source, active: false }));
    }
  }

  /**
   * One LLM turn for a burst of messages: recorded in the session, then answered; logged once the
   * answer is on its way. More messages of the same sender that arrive before anything of the
   * answer shows (no draft up, no tool run) cancel the call: the turn starts again over all of
   * them, the burst growing in place, and the cancelled call leaves nothing in the history.
   */
  private async turn(burst: InboundEvent[], owner: boolean): Promise<void> {
    const { bus, config, log } = this.deps;
    const first = burst[0]!;
    let cutFrom: number | undefined;
    for (let restarts = 0; ; restarts++) {
      const input = burstContent(burst, config().agent.max_input_chars);
      if (input.cutFrom !== undefined && input.cutFrom !== cutFrom) {
        log.warn({ sessionId: first.sessionId, eventId: first.id, chars: input.cutFrom, kept: config().agent.max_input_chars }, 'message too long: cut at agent.max_input_chars before it reached the model');
      }
      cutFrom = input.cutFrom;
      // only files are waited for: a text-only burst goes to the call at once, as before
      const reading = hasFiles(burst);
      const media = reading ? await prepareMedia(this.deps.media, burst, input, this.abort.signal) : textMedia(burst, input);
      // messages that came while the files were read (a download takes a while) join before the call starts
      const late = reading && restarts < MAX_RESTARTS ? bus.takeQueued(first.sessionId, (next) => joinsBurst(first, next) && this.mergeable(next, owner)) : [];
      if (late.length > 0) {
        burst.push(...late);
        continue;
      }
      if (media.empty) return this.reply(burst, media.notices.join('\n'));
      const drafts = new DraftPublisher(bus, first, this.deps.firstDraftAfterMs ?? FIRST_DRAFT_AFTER_MS);
      // not AbortSignal.any: on Node 20 a signal derived from the worker's long-lived one is never freed
      const call = new AbortController();
      const stop = () => call.abort();
      this.abort.signal.addEventListener('abort', stop, { once: true });
      let merged = false;
      let toolsRan = false;
      const stopWatching =
        restarts < MAX_RESTARTS
          ? bus.watchQueued(first.sessionId, () => {
              if (drafts.shown || toolsRan) return;
              const more = bus.takeQueued(first.sessionId, (next) => joinsBurst(first, next) && this.mergeable(next, owner));
              if (more.length === 0) return;
              burst.push(...more);
              merged = true;
              call.abort();
            })
          : () => undefined;
      const sent = { promptTokens: 0 };
      let result: TurnResult | undefined;
      let seen = media;
      try {
        ({ media: seen, result } = await this.attempt(media, burst, call.signal, drafts, () => (toolsRan = true), sent));
      } catch (error) {
        if (!merged || this.abort.signal.aborted) throw error;
      } finally {
        stopWatching();
        drafts.close();
        this.abort.signal.removeEventListener('abort', stop);
      }
      // also when the call had just finished: its answer did not see the messages that joined
      if (merged) {
        this.cancelled(burst, sent.promptTokens);
        continue;
      }
      // the model turned out to take no images, and without them nothing was left to ask
      if (!result) return this.reply(burst, seen.notices.join('\n'));
      this.ownerTold = false;
      await this.record(burst, seen, result);
      return;
    }
  }

  /**
   * The LLM part of a turn; `sent.promptTokens` (estimated) is set as the request goes out. The
   * media it returns is what the model saw in the end (without images, if it turned out to take none).
   */
  private async attempt(
    media: TurnMedia,
    burst: InboundEvent[],
    signal: AbortSignal,
    drafts: DraftPublisher,
    beforeTools: () => void,
    sent: { promptTokens: number },
  ): Promise<{ media: TurnMedia; result?: TurnResult }> {
    const { llm, tools, config } = this.deps;
    const first = burst[0]!;
    const actor = { source: first.source, sessionId: first.sessionId, owner: isOwner(config(), first.source), eventId: first.id };
    const system = withMemory(this.systemPrompt.text(), this.deps.memory, actor);
    const { window, tokens } = await this.windows.load(first.sessionId, system, media.text, signal);
    sent.promptTokens = tokens;
    const input = { llm, tools: tools.forTurn(actor), system, history: historyOf(window), maxRounds: config().llm.max_tool_rounds, signal, onText: drafts.onText, beforeTools };
    return runTurnSeeing(input, media, burst, this.deps.media, config().llm.model);
  }

  /** A cancelled call is billed by most providers for its prompt: it counts toward the sender's token budget. */
  private cancelled(burst: InboundEvent[], promptTokens: number): void {
    const first = burst[0]!;
    if (promptTokens > 0) this.deps.usage?.spent(first.source, { promptTokens, completionTokens: 0 }, this.deps.config().llm.model);
    this.deps.log.info({ sessionId: first.sessionId, eventId: first.id, messages: burst.length, promptTokens }, 'answer cancelled before any of it showed: more messages came; answering them together');
  }

  /** Records a finished turn in the session (the user's text and files as the model read them), then answers it. */
  private async record(burst: InboundEvent[], media: TurnMedia, result: TurnResult): Promise<void> {
    const user = media.text;
    const { sessions, config } = this.deps;
    const first = burst[0]!;
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
    await this.reply(burst, withNotices(result.reply + note, media.notices));
    this.deps.log.info({ sessionId: first.sessionId, eventId: first.id, messages: burst.length, tokens: result.tokens, rounds: result.added.length, model }, 'turn done');
  }

  /** 401/403: the setting to fix goes to the log once, not with every message, until the LLM works again. */
  private tellOwner(error: unknown): void {
    const fix = ownerFix(error);
    if (!fix || this.ownerTold) return;
    this.ownerTold = true;
    this.deps.log.error({ status: (error as LlmError).status }, fix);
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
}
