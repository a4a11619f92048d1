/**
 * Spaces a streamed reply's messages per chat: an edit starts at the chat's next free slot, and
 * the slot after it is a full interval after the edit came back, so edits reach the platform at
 * least an interval apart however long the network or a rate-limit queue held one. Telegram allows
 * about one message a second per chat and 20 a minute per group, edits included
 * (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this); Discord
 * rate-limits edits per channel too.
 */
export class EditPacer {
  /** Per chat: the earliest time its next edit may start. */
  private readonly next = new Map<string, number>();

  /** Takes the chat's next slot; returns how long to wait for it (0: at once). */
  reserve(chatKey: string, intervalMs: number, now = Date.now()): number {
    const at = Math.max(now, this.next.get(chatKey) ?? 0);
    this.next.set(chatKey, at + intervalMs);
    if (this.next.size > 1000) this.forgetPast(now);
    return at - now;
  }

  /** A message went out to the chat (edit or send): the next edit waits a full interval from now. */
  sent(chatKey: string, intervalMs: number, now = Date.now()): void {
    this.next.set(chatKey, Math.max(this.next.get(chatKey) ?? 0, now + intervalMs));
  }

  /** Chats whose next slot has passed start over empty: their entries are not needed. */
  private forgetPast(now: number): void {
    for (const [key, at] of this.next) if (at <= now) this.next.delete(key);
  }
}

/** The key edits are paced by: one chat (or Discord channel) of one platform. */
export function chatKey(source: { channel: string; chatId: string }): string {
  return `${source.channel}:${source.chatId}`;
}
