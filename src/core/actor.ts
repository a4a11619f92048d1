import type { EventSource } from './events.ts';

/** Who asks, and where: the chat a message came from, its session, and whether its sender is an owner. */
export interface Actor {
  source: EventSource;
  sessionId: string;
  owner: boolean;
  /** In a turn: the first message it answers, what the turn's outbound ids derive from (send_file). */
  eventId?: string;
}
