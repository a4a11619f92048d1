import type { EventBus } from '../core/bus.ts';
import type { InboundEvent } from '../core/events.ts';
import { pause } from '../core/pause.ts';
import { isCommand } from './commands.ts';

/** A burst that keeps growing is answered at the latest this many debounce periods after its turn came up. */
const MAX_WAIT_PERIODS = 5;

/**
 * The messages to answer in one turn with `first`: those queued behind it in its session (sent
 * while the previous turn ran), then any that arrive until `debounceMs` passed since the newest.
 * A command, or a message of another user (in a group), ends the burst: it is answered on its own
 * turn, in order; so does one `accept` refuses (over a limit). Undefined when `signal` aborted the wait; the events are then still unacknowledged.
 */
export async function gatherBurst(
  bus: EventBus,
  first: InboundEvent,
  debounceMs: number,
  signal: AbortSignal,
  accept: (event: InboundEvent) => boolean = () => true,
): Promise<InboundEvent[] | undefined> {
  const burst = [first];
  const giveUpAt = Date.now() + MAX_WAIT_PERIODS * debounceMs;
  let newest = first.createdAt;
  for (;;) {
    let ended = false;
    const taken = bus.takeQueued(first.sessionId, (event) => {
      ended = isCommand(event.content) || event.source.userId !== first.source.userId || first.scheduled !== undefined || event.scheduled !== undefined || !accept(event);
      return !ended;
    });
    burst.push(...taken);
    for (const event of taken) newest = Math.max(newest, event.createdAt);
    const wait = Math.min(newest + debounceMs, giveUpAt) - Date.now();
    if (ended || wait <= 0) return burst;
    if (!(await pause(wait, signal))) return undefined;
  }
}

/** What the model reads of a burst: the messages in order, a blank line apart. */
export function burstContent(burst: readonly InboundEvent[]): string {
  return burst.map((event) => event.content).join('\n\n');
}
