import { settingsOfChannel } from '../channels/accounts.ts';
import type { Config } from '../config/schema.ts';
import type { EventSource } from '../core/events.ts';
import type { Logger } from '../log.ts';
import type { Period } from './cost-ledger.ts';
import { emptyUsage, utcDay, type Tally, type UsageState, type UsageStore } from './usage-store.ts';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** Counters reach the disk this long after a change at most, and at stop. */
const FLUSH_MS = 2000;
/**
 * A shared store (several processes): this process's counts reach the file within this, and it
 * looks for the others' at most this often when it checks a limit. So a limit counts every
 * process's usage, late by about twice this at most.
 */
const SHARED_SYNC_MS = 500;

type LimitSet = Config['limits']['per_user'];
type Scope = 'user' | 'chat';
type LimitKind = 'minute' | 'tokens' | 'cost';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

/** `ok: false` → the LLM is not called; `notice` is set once per window, for the first message over the limit. */
export type Admission = { ok: true } | { ok: false; scope: Scope; limit: LimitKind; notice?: string };

interface Over {
  scope: Scope;
  key: string;
  kind: LimitKind;
  limit: number;
  /** When the limit stops applying. */
  until: number;
}

/**
 * limits.per_user and limits.per_chat: answered messages over the last 60 s, and LLM tokens and
 * estimated cost per UTC day. Checked before a turn, charged after it with the API's `usage`.
 * Owners are counted but never held back. With a shared store, every process's usage counts,
 * each process's with a lag of about a second (SHARED_SYNC_MS).
 */
export class UsageLimiter {
  private state: UsageState;
  private timer?: NodeJS.Timeout;
  /** The store is shared with other processes (see SHARED_SYNC_MS). */
  private readonly shared: boolean;
  /** Shared store: when the others' counts were last looked for. */
  private lookedAt: number;
  /** Cost per model today and this month, for an owner's /usage (see CostLedger). */
  costsByModel?: () => Array<{ model: string; today: Period; month: Period }>;

  constructor(
    private readonly config: () => Config,
    private readonly store: UsageStore | undefined,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.state = store?.load(utcDay(now())) ?? emptyUsage(utcDay(now()));
    this.shared = store?.shared ?? false;
    this.lookedAt = now();
  }

  /** Whether `admit` would say yes, counting nothing and sending no notice. */
  wouldAdmit(source: EventSource, owner: boolean): boolean {
    if (owner) return true;
    const now = this.rollover();
    const { per_user, per_chat } = this.limitsFor(source);
    const user = userKey(source);
    return ((user ? this.over('user', user, per_user, now) : undefined) ?? this.over('chat', chatKey(source), per_chat, now)) === undefined;
  }

  /** Counts the message and says yes, or says no (the message is then not counted). */
  admit(source: EventSource, owner: boolean): Admission {
    const now = this.rollover();
    const { per_user, per_chat } = this.limitsFor(source);
    const user = userKey(source);
    const chat = chatKey(source);
    if (!owner) {
      const over = (user ? this.over('user', user, per_user, now) : undefined) ?? this.over('chat', chat, per_chat, now);
      if (over) return this.refuse(over, now);
    }
    for (const [scope, key] of [['user', user], ['chat', chat]] as const) {
      if (key === undefined) continue;
      const id = `${scope}:${key}`;
      this.state.recent[id] = [...(this.state.recent[id] ?? []).filter((t) => now - t < MINUTE_MS).slice(-1000), now];
      this.tally(scope, key).messages++;
    }
    this.changed();
    return { ok: true };
  }

  /** Charges a turn's tokens, and their cost when limits.prices knows the model, to its user and chat. */
  spent(source: EventSource, usage: Usage, model: string): void {
    this.rollover();
    const price = this.config().limits.prices[model];
    const cost = price ? (usage.promptTokens * price.input_per_mtok + usage.completionTokens * price.output_per_mtok) / 1e6 : 0;
    for (const [scope, key] of [['user', userKey(source)], ['chat', chatKey(source)]] as const) {
      if (key === undefined) continue;
      const tally = this.tally(scope, key);
      tally.promptTokens += usage.promptTokens;
      tally.completionTokens += usage.completionTokens;
      tally.cost += cost;
    }
    this.changed();
  }

  /** Today's figures for the user and the chat of `source`. */
  today(source: EventSource): { day: string; user?: Tally; chat?: Tally } {
    this.rollover();
    const user = userKey(source);
    return { day: this.state.day, ...(user && this.state.users[user] ? { user: this.state.users[user] } : {}), ...(this.state.chats[chatKey(source)] ? { chat: this.state.chats[chatKey(source)] } : {}) };
  }

  /** The limits that apply to whoever is not an owner (where `source` wrote), in words; undefined when there are none. */
  describe(source?: EventSource): string | undefined {
    const { per_user, per_chat } = source ? this.limitsFor(source) : this.config().limits;
    const words = (set: LimitSet) =>
      [
        set.messages_per_minute !== undefined ? `${set.messages_per_minute} messages a minute` : '',
        set.tokens_per_day !== undefined ? `${set.tokens_per_day} tokens a day` : '',
        set.cost_per_day !== undefined ? `${set.cost_per_day} in estimated cost a day` : '',
      ].filter(Boolean);
    const parts = [words(per_user).length ? `per user ${words(per_user).join(', ')}` : '', words(per_chat).length ? `per chat ${words(per_chat).join(', ')}` : ''].filter(Boolean);
    return parts.length ? `Limits: ${parts.join('; ')}.` : undefined;
  }

  /** The `n` users or chats that used the most tokens today. */
  top(scope: Scope, n: number): Array<[string, Tally]> {
    this.rollover();
    const tallies = scope === 'user' ? this.state.users : this.state.chats;
    return Object.entries(tallies)
      .sort(([, a], [, b]) => tokensOf(b) - tokensOf(a) || b.messages - a.messages)
      .slice(0, n);
  }

  /** Writes the counters now (at stop; otherwise a change is written within FLUSH_MS). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    try {
      if (this.store) this.state = this.store.save(this.state, this.now());
    } catch (err) {
      this.log.warn({ err }, 'could not save the usage counters; retrying with the next change');
      // the other processes count on this one's figures: try again soon, not only at the next message
      if (this.shared) this.changed();
    }
  }

  /** A bot account's own limits (channels.<platform>.accounts.<name>.limits) where it has them, else limits.per_user / per_chat. */
  private limitsFor(source: EventSource): { per_user: LimitSet; per_chat: LimitSet } {
    const config = this.config();
    const own = settingsOfChannel(config, source.channel)?.limits;
    return { per_user: own?.per_user ?? config.limits.per_user, per_chat: own?.per_chat ?? config.limits.per_chat };
  }

  private over(scope: Scope, key: string, limits: LimitSet, now: number): Over | undefined {
    const { messages_per_minute: perMinute, tokens_per_day: tokens, cost_per_day: cost } = limits;
    if (perMinute !== undefined) {
      const recent = (this.state.recent[`${scope}:${key}`] ?? []).filter((t) => now - t < MINUTE_MS);
      if (recent.length >= perMinute) return { scope, key, kind: 'minute', limit: perMinute, until: recent[recent.length - perMinute]! + MINUTE_MS };
    }
    const tally = (scope === 'user' ? this.state.users : this.state.chats)[key];
    const midnight = (Math.floor(now / DAY_MS) + 1) * DAY_MS;
    if (tokens !== undefined && tally && tokensOf(tally) >= tokens) return { scope, key, kind: 'tokens', limit: tokens, until: midnight };
    if (cost !== undefined && tally && tally.cost >= cost) return { scope, key, kind: 'cost', limit: cost, until: midnight };
    return undefined;
  }

  private refuse(over: Over, now: number): Admission {
    const id = `${over.scope}:${over.key}:${over.kind}`;
    const refusal = { ok: false as const, scope: over.scope, limit: over.kind };
    if ((this.state.notices[id] ?? 0) > now) return refusal;
    this.state.notices[id] = over.until;
    this.changed();
    return { ...refusal, notice: noticeText(over, now) };
  }

  /** A new UTC day starts every daily tally at zero; minute windows and pending notices run on. */
  private rollover(): number {
    const now = this.now();
    if (this.shared && now - this.lookedAt >= SHARED_SYNC_MS) {
      this.state = this.store!.refresh(this.state, now);
      this.lookedAt = now;
    }
    const day = utcDay(now);
    if (day !== this.state.day) {
      this.state = { ...this.state, day, users: {}, chats: {} };
      for (const [id, until] of Object.entries(this.state.notices)) if (until <= now) delete this.state.notices[id];
      for (const [id, times] of Object.entries(this.state.recent)) if (times.every((t) => now - t >= MINUTE_MS)) delete this.state.recent[id];
      this.changed();
    }
    return now;
  }

  private tally(scope: Scope, key: string): Tally {
    const tallies = scope === 'user' ? this.state.users : this.state.chats;
    return (tallies[key] ??= { messages: 0, promptTokens: 0, completionTokens: 0, cost: 0 });
  }

  private changed(): void {
    if (!this.store || this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.shared ? SHARED_SYNC_MS : FLUSH_MS);
    this.timer.unref();
  }
}

export function tokensOf(tally: Tally): number {
  return tally.promptTokens + tally.completionTokens;
}

function userKey(source: EventSource): string | undefined {
  return source.userId === undefined ? undefined : `${source.channel}:${source.userId}`;
}

function chatKey(source: EventSource): string {
  return `${source.channel}:${source.chatId}`;
}

function noticeText(over: Over, now: number): string {
  const who = over.scope === 'user' ? 'You have' : 'This chat has';
  const wait = formatWait(over.until - now);
  switch (over.kind) {
    case 'minute':
      return `${over.scope === 'user' ? "You're" : 'This chat is'} writing faster than I may answer (${over.limit} messages a minute). I'll answer again in ${wait}; until then messages go unanswered.`;
    case 'tokens':
      return `${who} used today's budget of ${over.limit} tokens. I'll answer again after midnight UTC, in ${wait}; until then messages go unanswered.`;
    case 'cost':
      return `${who} used today's budget (${over.limit} in estimated LLM cost). I'll answer again after midnight UTC, in ${wait}; until then messages go unanswered.`;
  }
}

function formatWait(ms: number): string {
  const s = Math.max(1, Math.ceil(ms / 1000));
  if (s < 120) return `${s} s`;
  const m = Math.ceil(s / 60);
  return m < 120 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
