import PQueue from 'p-queue';

/** At most `limit` sends in any rolling `intervalMs`. */
export interface WindowLimit {
  limit: number;
  intervalMs: number;
}

export interface SendLimits {
  privateChat: WindowLimit;
  group: WindowLimit;
  global: WindowLimit;
}

/**
 * https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this: about 1 message
 * a second per chat with short bursts, 20 a minute per group, about 30 a second overall. The group
 * limit is a hard count over a rolling minute taken when a message arrives; we count when it
 * leaves, so its window has a second of margin for the transit.
 */
export const TELEGRAM_LIMITS: SendLimits = {
  privateChat: { limit: 5, intervalMs: 5_000 },
  group: { limit: 20, intervalMs: 61_000 },
  global: { limit: 30, intervalMs: 1_000 },
};

/** A send that Telegram answered with 429 is tried again after its `retry_after` this many times, then its failure is returned. */
const MAX_RATE_LIMITED_RETRIES = 5;

export interface SendLimiterOptions {
  /** The `retry_after` (seconds) of a call's outcome, resolved or thrown, when it is a 429; else undefined. */
  retryAfterOf?: (outcome: unknown) => number | undefined;
  /** Told when a 429 pauses a chat, e.g. to log it. */
  onPause?: (chatId: string, retryAfterS: number) => void;
}

interface ChatQueue {
  queue: PQueue;
  intervalMs: number;
  lastSend: number;
  /** Telegram's retry_after: no send of any kind goes to this chat before then. */
  pausedUntil: number;
  /** A best-effort call on the wire: a send waits for its answer, which may be a 429 for the whole chat. */
  bestEffortInFlight: Promise<unknown> | undefined;
}

/**
 * Telegram's flood limits as one FIFO queue per chat (one send at a time, so a chat's messages
 * arrive in order) in front of one queue for the whole bot. p-queue in strict mode counts sends in
 * a sliding window, as Telegram does, and starts a send synchronously while under the limits: no
 * timer stands between a reply and the wire until a limit is actually near. Bottleneck, behind
 * grammY's transformer-throttler, passes every job through several setTimeout steps (~8 ms a send),
 * and its refilling reservoirs let a 21st group message through within the minute.
 *
 * A 429 pauses only its chat, for every producer: the send waits out `retry_after` holding the
 * chat's queue (replies, notices and edits queued behind it wait too, and stay in order), then is
 * tried again; other chats and the global window go on meanwhile.
 */
export class SendLimiter {
  private readonly chats = new Map<string, ChatQueue>();
  private readonly global: PQueue;
  private lastSweep = Date.now();

  constructor(
    private readonly limits: SendLimits = TELEGRAM_LIMITS,
    private readonly options: SendLimiterOptions = {},
  ) {
    this.global = windowQueue(limits.global, Number.POSITIVE_INFINITY);
  }

  /** Runs `send` as soon as the chat's and the bot's windows allow (at once while under both) and the chat is not paused. */
  schedule<T>(chatId: number | string, send: () => Promise<T>): Promise<T> {
    const key = String(chatId);
    const chat = this.chatQueue(key);
    return chat.queue.add(async () => {
      for (let attempt = 0; ; attempt++) {
        // no await when nothing is in the way: a send under the limits starts synchronously
        if (chat.bestEffortInFlight) await chat.bestEffortInFlight;
        const paused = waitUntil(chat.pausedUntil);
        if (paused) await paused;
        chat.lastSend = Date.now();
        const { value, error } = await settle(() => this.global.add(send));
        const retryAfter = this.retryAfterOf(error ? error.reason : value);
        if (retryAfter === undefined || attempt >= MAX_RATE_LIMITED_RETRIES) {
          if (error) throw error.reason;
          return value as T;
        }
        this.pause(key, chat, retryAfter);
      }
    });
  }

  /**
   * A best-effort call (a typing indicator): sent now if the chat has nothing queued, in flight or
   * paused, else dropped (undefined), so it never waits behind a message; a message waits at most
   * for its answer. It does not count against the windows, which are Telegram's limits on
   * messages; a 429 it gets pauses the chat like any other.
   */
  tryNow<T>(chatId: number | string, send: () => Promise<T>): Promise<T> | undefined {
    const key = String(chatId);
    const chat = this.chatQueue(key);
    if (chat.bestEffortInFlight || chat.queue.size > 0 || chat.queue.pending > 0 || chat.pausedUntil > Date.now()) return undefined;
    const done = (outcome: unknown): void => {
      chat.bestEffortInFlight = undefined;
      const retryAfter = this.retryAfterOf(outcome);
      if (retryAfter !== undefined) this.pause(key, chat, retryAfter);
    };
    const call = send().then(
      (value) => {
        done(value);
        return value;
      },
      (err: unknown) => {
        done(err);
        throw err;
      },
    );
    chat.bestEffortInFlight = call.catch(() => undefined);
    return call;
  }

  /**
   * A receipt (a reaction on the user's message): sent at once, beside the chat's queue rather than
   * in it, so a message never waits for it; not counted against the windows, which are Telegram's
   * limits on messages; dropped (undefined) while the chat is paused. Its own 429 pauses nothing
   * and is not tried again: a receipt late by retry_after seconds says nothing anymore.
   */
  receipt<T>(chatId: number | string, send: () => Promise<T>): Promise<T> | undefined {
    if (this.chatQueue(String(chatId)).pausedUntil > Date.now()) return undefined;
    return send();
  }

  /** How many chats have a queue right now (idle ones are forgotten once their window has passed). */
  get chatCount(): number {
    return this.chats.size;
  }

  private retryAfterOf(outcome: unknown): number | undefined {
    return this.options.retryAfterOf?.(outcome);
  }

  private pause(key: string, chat: ChatQueue, retryAfterS: number): void {
    chat.pausedUntil = Math.max(chat.pausedUntil, Date.now() + retryAfterS * 1000);
    this.options.onPause?.(key, retryAfterS);
  }

  private chatQueue(key: string): ChatQueue {
    let chat = this.chats.get(key);
    if (!chat) {
      this.sweep();
      // groups, supergroups and channels have negative ids; "@channelname" counts as a chat
      const limit = Number(key) < 0 ? this.limits.group : this.limits.privateChat;
      chat = { queue: windowQueue(limit, 1), intervalMs: limit.intervalMs, lastSend: 0, pausedUntil: 0, bestEffortInFlight: undefined };
      this.chats.set(key, chat);
    }
    return chat;
  }

  /** Drops idle chats whose last send is out of their window: a new queue for them starts equally empty. */
  private sweep(): void {
    const now = Date.now();
    if (now - this.lastSweep < this.limits.group.intervalMs) return;
    this.lastSweep = now;
    for (const [key, chat] of this.chats) {
      const idle = chat.queue.size === 0 && chat.queue.pending === 0 && !chat.bestEffortInFlight;
      if (idle && now - chat.lastSend >= chat.intervalMs && chat.pausedUntil <= now) this.chats.delete(key);
    }
  }
}

function windowQueue({ limit, intervalMs }: WindowLimit, concurrency: number): PQueue {
  return new PQueue({ concurrency, intervalCap: limit, interval: intervalMs, strict: true });
}

async function settle<T>(run: () => Promise<T>): Promise<{ value?: T; error?: { reason: unknown } }> {
  try {
    return { value: await run() };
  } catch (reason) {
    return { error: { reason } };
  }
}

function waitUntil(time: number): Promise<void> | undefined {
  const ms = time - Date.now();
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : undefined;
}
