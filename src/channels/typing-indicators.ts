import type { TypingEvent } from '../core/events.ts';
import type { Logger } from '../log.ts';
import type { Channel } from './channel.ts';

/**
 * Typing shows only if the reply is not out by then: the platforms clear the indicator when the
 * bot's message arrives, so a quick answer would only flash it, at the cost of a request that
 * counts against the chat's limits. Short enough that it shows within half a second of the message.
 */
export const TYPING_GRACE_MS = 400;
/** Typing is never shown longer than this, even if the agent never says it stopped. */
const TYPING_MAX_MS = 5 * 60_000;
/** A reply waits at most this long for a typing request already on its way, so it cannot land after it. */
const SETTLE_MAX_MS = 1000;

interface Indicator {
  timer: NodeJS.Timeout;
  since: number;
  /** The typing request on its way, if any. */
  inFlight: Promise<void> | undefined;
}

/** "typing…" per session while the agent works on it, renewed before the platform lets it lapse. */
export class TypingIndicators {
  private readonly indicators = new Map<string, Indicator>();

  constructor(
    private readonly channels: () => ReadonlyMap<string, Channel>,
    private readonly log: Logger,
  ) {}

  start(event: TypingEvent): void {
    const channel = this.channels().get(event.source.channel);
    if (!channel || this.indicators.has(event.sessionId)) return;
    const pulse = () => {
      if (this.indicators.get(event.sessionId) !== indicator) return;
      if (Date.now() - indicator.since > TYPING_MAX_MS) return void this.stop(event.sessionId);
      const sent = channel.sendTyping(event.source).catch((err: unknown) => this.log.debug({ err, sessionId: event.sessionId }, 'typing indicator failed'));
      indicator.inFlight = sent.finally(() => {
        if (indicator.inFlight === sent) indicator.inFlight = undefined;
      });
    };
    const indicator: Indicator = {
      timer: setTimeout(() => {
        indicator.timer = setInterval(pulse, channel.typingIntervalMs);
        pulse();
      }, TYPING_GRACE_MS),
      since: Date.now(),
      inFlight: undefined,
    };
    this.indicators.set(event.sessionId, indicator);
  }

  /**
   * Stops the session's typing and resolves once a typing request already on its way has been
   * answered: called before a reply goes out, typing can then not show after it. With
   * `answeredAt` (when that reply was written), typing started after it is left alone: it is for
   * the session's next turn, which the agent began meanwhile.
   */
  async stop(sessionId: string, answeredAt = Infinity): Promise<void> {
    const indicator = this.indicators.get(sessionId);
    if (!indicator || indicator.since > answeredAt) return;
    clearTimeout(indicator.timer);
    this.indicators.delete(sessionId);
    if (!indicator.inFlight) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([indicator.inFlight, new Promise((resolve) => (timer = setTimeout(resolve, SETTLE_MAX_MS)))]);
    clearTimeout(timer);
  }

  stopAll(): void {
    for (const sessionId of [...this.indicators.keys()]) void this.stop(sessionId);
  }
}
