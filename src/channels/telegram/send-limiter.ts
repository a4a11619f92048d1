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

interface ChatQueue {
  queue: PQueue;
  intervalMs: number;
  lastSend: number;
}

/**
 * Telegram's flood limits as one FIFO queue per chat (one send at a time, so a chat's messages
 * arrive in order) in front of one queue for the whole bot. p-queue in strict mode counts sends in
 * a sliding window, as Telegram does, and starts a send synchronously while under the limits: no
 * timer stands between a reply and the wire until a limit is actually near. Bottleneck, behind
 * grammY's transformer-throttler, passes every job through several setTimeout steps (~8 ms a send),
 * and its refilling reservoirs let a 21st group message through within the minute.
 */
export class SendLimiter {
  private readonly chats = new Map<string, ChatQueue>();
  private readonly global: PQueue;
  private lastSweep = Date.now();

  constructor(private readonly limits: SendLimits = TELEGRAM_LIMITS) {
    this.global = windowQueue(limits.global, Number.POSITIVE_INFINITY);
  }

  /** Runs `send` as soon as the chat's and the bot's windows allow: at once while under both. */
  schedule<T>(chatId: number | string, send: () => Promise<T>): Promise<T> {
    const chat = this.chatQueue(chatId);
    return chat.queue.add(() => {
      chat.lastSend = Date.now();
      return this.global.add(send);
    });
  }

  /** How many chats have a queue right now (idle ones are forgotten once their window has passed). */
  get chatCount(): number {
    return this.chats.size;
  }

  private chatQueue(chatId: number | string): ChatQueue {
    const key = String(chatId);
    let chat = this.chats.get(key);
    if (!chat) {
      this.sweep();
      // groups, supergroups and channels have negative ids; "@channelname" counts as a chat
      const limit = Number(chatId) < 0 ? this.limits.group : this.limits.privateChat;
      chat = { queue: windowQueue(limit, 1), intervalMs: limit.intervalMs, lastSend: 0 };
      this.chats.set(key, chat);
    }
    return chat;
  }

  /** Drops idle chats whose last send is out of their window: a new queue for them starts equally empty. */
  private sweep(): void {
    const now = Date.now();
    if (now - this.lastSweep < this.limits.group.intervalMs) return;
    this.lastSweep = now;
    for (const [key, { queue, intervalMs, lastSend }] of this.chats) {
      if (queue.size === 0 && queue.pending === 0 && now - lastSend >= intervalMs) this.chats.delete(key);
    }
  }
}

function windowQueue({ limit, intervalMs }: WindowLimit, concurrency: number): PQueue {
  return new PQueue({ concurrency, intervalCap: limit, interval: intervalMs, strict: true });
}
