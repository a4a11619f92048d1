import type { EventSource } from './events.ts';

/** Who asks, and where: the chat a message came from, its session, and whether its sender is an owner. */
export interface Actor {
  source: EventSource;
  sessionId: string;
  owner: boolean;
}
