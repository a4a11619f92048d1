import type { Logger } from '../log.ts';
import { compactSession, estimateTokens, needsCompaction } from './compaction.ts';
import { historyOf } from './history.ts';
import type { Llm } from './llm.ts';
import type { SessionStore, SessionWindow } from './sessions.ts';
import type { ToolRegistry } from './tools/registry.ts';

export interface ContextWindowDeps {
  llm: Llm;
  sessions: SessionStore;
  tools: ToolRegistry;
  /** llm.context_window, read at each call: a reloaded config applies to the next turn. */
  contextWindow: () => number;
  log: Logger;
}

/** What of a session goes into the next request, summarised when it comes near llm.context_window. */
export class ContextWindows {
  constructor(private readonly deps: ContextWindowDeps) {}

  /**
   * The session's window for the next request, and its estimated tokens; when that request would
   * come near llm.context_window, the older turns are summarised first. A failed summary costs
   * nothing but the saving: the turn goes on with the window as it was.
   */
  async load(sessionId: string, system: string, user: string, signal: AbortSignal): Promise<{ window: SessionWindow; tokens: number }> {
    const { llm, sessions, tools, log } = this.deps;
    const window = await sessions.load(sessionId);
    const contextWindow = this.deps.contextWindow();
    const estimate = (w: SessionWindow) => estimateTokens([{ role: 'system', content: system }, ...historyOf(w), { role: 'user', content: user }], tools.specs());
    const tokens = estimate(window);
    if (!needsCompaction(tokens, contextWindow)) return { window, tokens };
    try {
      const done = await compactSession({ llm, sessions, sessionId, window, contextWindow, signal });
      if (!done) return { window, tokens };
      log.info({ sessionId, tokens, contextWindow, ...done }, 'session compacted: older messages summarised');
      const compacted = await sessions.load(sessionId);
      return { window: compacted, tokens: estimate(compacted) };
    } catch (error) {
      if (signal.aborted) throw error;
      log.warn({ err: error, sessionId, tokens, contextWindow }, 'compaction failed; answering with the whole window');
      return { window, tokens };
    }
  }

  /** /compact: summarises the older messages now, whatever their size; the answer for the user. */
  async compactNow(sessionId: string, signal: AbortSignal): Promise<string> {
    const { llm, sessions, log } = this.deps;
    const window = await sessions.load(sessionId);
    const done = await compactSession({ llm, sessions, sessionId, window, contextWindow: this.deps.contextWindow(), signal, force: true });
    if (!done) return 'Nothing to condense: no messages since the conversation started or was last condensed.';
    log.info({ sessionId, ...done }, 'session compacted on request');
    return `Condensed ${done.summarised} earlier messages into a summary; the last ${done.kept} stay as they were.`;
  }
}
