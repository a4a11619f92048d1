import type { InboundEvent, OutboundEvent } from '../core/events.ts';
import type { Metrics } from './metrics.ts';

/** Messages remembered for the turn latency; a message merged into another's turn is never answered under its own id. */
const MAX_REMEMBERED = 10_000;

/** Counts messages in and replies out per channel, and times each turn from the message to its reply. */
export class MessageMeter {
  private readonly arrived = new Map<string, number>();

  constructor(private readonly metrics: Pick<Metrics, 'messageIn' | 'messageOut' | 'turnDone'>) {}

  /** A new message, journaled (not a duplicate). */
  inbound(event: InboundEvent): void {
    this.metrics.messageIn(event.source.channel);
    this.arrived.set(event.id, event.createdAt);
    if (this.arrived.size > MAX_REMEMBERED) this.arrived.delete(this.arrived.keys().next().value!);
  }

  /** A reply on its way to the channel. */
  outbound(event: OutboundEvent): void {
    this.metrics.messageOut(event.source.channel);
    const arrivedAt = this.arrived.get(event.inReplyTo);
    if (arrivedAt === undefined) return;
    this.arrived.delete(event.inReplyTo);
    this.metrics.turnDone(Math.max(0, event.createdAt - arrivedAt) / 1000, event.error ? 'error' : 'ok');
  }
}
