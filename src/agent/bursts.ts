import type { EventBus } from '../core/bus.ts';
import type { InboundEvent } from '../core/events.ts';
import { pause } from '../core/pause.ts';
import { isCommand } from './commands.ts';

/** A burst that keeps growing is answered at the latest this many debounce periods after its turn came up. */
const MAX_WAIT_PERIODS = 5;

/**
 * Whether `next` may be answered in one turn with the burst `first` started: a plain message of the
 * same sender. A command, a message of another user (in a group) or a scheduled task is answered
 * on its own turn, in order.
 */
export function joinsBurst(first: InboundEvent, next: InboundEvent): boolean {
  return next.source.userId === first.source.userId && !isCommand(next.content) && !next.scheduled && !first.scheduled;
}

/**
 * The messages to answer in one turn with `first`: those queued behind it in its session (sent
 * while the previous turn ran), then, with `debounceMs` > 0, any that arrive until that long passed
 * since the newest. The burst ends at a message that does not join it (see `joinsBurst`), or one
 * `accept` refuses (over a limit). `waitedMs`: how long it waited for more, 0 when it took only
 * what was queued. Undefined when `signal` aborted the wait; the events are then still
 * unacknowledged.
 */
export async function gatherBurst(
  bus: EventBus,
  first: InboundEvent,
  debounceMs: number,
  signal: AbortSignal,
  accept: (event: InboundEvent) => boolean = () => true,
): Promise<{ burst: InboundEvent[]; waitedMs: number } | undefined> {
  const burst = [first];
  let waitedMs = 0;
  const giveUpAt = Date.now() + MAX_WAIT_PERIODS * debounceMs;
  let newest = first.createdAt;
  for (;;) {
    let ended = false;
    const taken = bus.takeQueued(first.sessionId, (event) => {
      ended = !joinsBurst(first, event) || !accept(event);
      return !ended;
    });
    burst.push(...taken);
    for (const event of taken) newest = Math.max(newest, event.createdAt);
    const wait = Math.min(newest + debounceMs, giveUpAt) - Date.now();
    if (ended || wait <= 0) return { burst, waitedMs };
    if (!(await pause(wait, signal))) return undefined;
    waitedMs += wait;
  }
}

/**
 * What the model reads of a burst: the messages in order, a blank line apart, cut at `maxChars`
 * with a note saying so (`cutFrom`: the length before the cut).
 */
export function burstContent(burst: readonly InboundEvent[], maxChars: number): { text: string; cutFrom?: number } {
  const text = burst.map((event) => event.content).join('\n\n');
  if (text.length <= maxChars) return { text };
  // not in the middle of a surrogate pair: half an emoji is not valid text for the API
  const end = isHighSurrogate(text.charCodeAt(maxChars - 1)) ? maxChars - 1 : maxChars;
  const note = `\n\n[…the message was cut here: it had ${text.length.toLocaleString('en')} characters, more than the ${maxChars.toLocaleString('en')} I take at once]`;
  return { text: text.slice(0, end) + note, cutFrom: text.length };
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
