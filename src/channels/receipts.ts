import type { EventSource } from '../core/events.ts';
import type { Logger } from '../log.ts';

export interface ReceiptSettings {
  ack_reaction: string;
  ack_reaction_clear: boolean;
}

/** How a platform sets and removes its own reaction on a message. */
export interface ReactionApi {
  react(target: EventSource, emoji: string): Promise<unknown>;
  unreact(target: EventSource, emoji: string): Promise<unknown>;
}

/** Reactions remembered for their removal; older ones are left in place. */
const MAX_REMEMBERED = 5_000;

/**
 * The "seen" receipt: a reaction on a group message addressed to the bot, set once the message is
 * journaled and, with ack_reaction_clear, removed once the reply shows. Best effort on both ends:
 * nothing waits for it, a failure is logged and forgotten. Never in private chats, where the
 * typing indicator says as much.
 */
export class Receipts {
  private readonly reacted = new Map<string, string>();
  private warned = false;

  constructor(
    private readonly settings: () => ReceiptSettings,
    private readonly api: ReactionApi,
    private readonly log: Logger,
  ) {}

  seen(source: EventSource): void {
    const emoji = this.settings().ack_reaction;
    if (!emoji || source.chatType !== 'group' || !source.messageId) return;
    this.reacted.set(keyOf(source), emoji);
    if (this.reacted.size > MAX_REMEMBERED) this.reacted.delete(this.reacted.keys().next().value!);
    // after the turn has started: the request's own work is then done while the model thinks, not
    // on the way to the answer (~1 ms at the median on Discord with an instant model, bench/discord-latency)
    setImmediate(() => this.api.react(source, emoji).catch((err: unknown) => this.failed('set', err)));
  }

  /** The first message of the reply to `target` is up. */
  replied(target: EventSource): void {
    if (!target.messageId) return;
    const key = keyOf(target);
    const emoji = this.reacted.get(key);
    if (emoji === undefined) return;
    this.reacted.delete(key);
    if (this.settings().ack_reaction_clear) this.api.unreact(target, emoji).catch((err: unknown) => this.failed('remove', err));
  }

  private failed(what: 'set' | 'remove', err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    // once at warn (a wrong emoji or a missing permission fails every time), then quietly
    if (this.warned) return this.log.debug({ reason }, `could not ${what} the ack reaction`);
    this.warned = true;
    this.log.warn({ reason }, `could not ${what} the ack reaction (ack_reaction); receipts are best effort, replies go on`);
  }
}

function keyOf(source: EventSource): string {
  return `${source.chatId}:${source.messageId}`;
}
