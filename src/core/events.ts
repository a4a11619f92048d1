import { randomUUID } from 'node:crypto';

/** Everything a channel needs to answer where a message came from. */
export interface EventSource {
  /** Channel name: 'telegram', 'discord', 'terminal'. */
  channel: string;
  chatId: string;
  userId?: string;
  /** The platform's id of the user's message, to reply to it. */
  messageId?: string;
  /** Telegram forum topic or Discord thread. */
  threadId?: string;
  /** 'private' chats get plain replies; in groups the reply quotes the user's message. */
  chatType?: 'private' | 'group';
}

interface BaseEvent {
  id: string;
  /** ms since epoch */
  createdAt: number;
  sessionId: string;
  source: EventSource;
}

/**
 * A file a user sent, as the platform described it: enough to fetch it later, so the message is
 * journaled before anything is downloaded. What was read from it is kept beside the saved copy
 * in the workspace's inbox (src/media/inbox.ts), where a replay finds it.
 */
export interface InboundFile {
  kind: 'image' | 'voice' | 'audio' | 'video_note' | 'video' | 'document';
  /** The platform's id of the file (Telegram file_id, Discord attachment id). */
  fileId: string;
  /** The name to save it under: the user's file name, or one made from the kind. */
  name: string;
  mime?: string;
  /** In bytes, as the platform announced it. */
  size?: number;
  /** Where the platform serves it, when it said (Discord's attachment URL). */
  url?: string;
}

export interface InboundEvent extends BaseEvent {
  type: 'inbound';
  /** The text, or a file's caption; may be empty when files came. */
  content: string;
  retryCount: number;
  files?: InboundFile[];
  /** Set on a task the scheduler fired: never merged into a user's burst of messages. */
  scheduled?: { job: string; dueAt: number };
}

/** A workspace file the agent sends to the chat (the `send_file` tool); `content` is its caption. */
export interface OutboundFile {
  /** Absolute path, inside the workspace. */
  path: string;
  /** The name the chat shows. */
  name: string;
}

export interface OutboundEvent extends BaseEvent {
  type: 'outbound';
  content: string;
  /** Set when the turn failed; `content` then holds the short message for the user. */
  error?: string;
  /** Id of the InboundEvent this answers. */
  inReplyTo: string;
  file?: OutboundFile;
}

/** Not journaled: the agent is (or stopped) working on a session, so channels show "typing…". */
export interface TypingEvent extends BaseEvent {
  type: 'typing';
  active: boolean;
}

/**
 * Not journaled: the text of a reply while the model is still writing it (the whole text so far,
 * so any one of them can replace the ones before). The OutboundEvent with id `replyId` that follows
 * is the answer of record; channels that can edit messages show drafts until it comes.
 */
export interface DraftEvent extends BaseEvent {
  type: 'draft';
  replyId: string;
  text: string;
}

/** The one typed map of events: `subscribe(InboundEvent, handler)` gives the handler an InboundEvent. */
export interface EventMap {
  inbound: InboundEvent;
  outbound: OutboundEvent;
  typing: TypingEvent;
  draft: DraftEvent;
}
export type EventType = keyof EventMap;
export type AnyEvent = EventMap[EventType];

export const InboundEvent = 'inbound' as const;
export const OutboundEvent = 'outbound' as const;
export const TypingEvent = 'typing' as const;
export const DraftEvent = 'draft' as const;

/** Event types that survive a crash: written to the journal before publish resolves. */
export const DURABLE_TYPES: ReadonlySet<EventType> = new Set<EventType>(['inbound', 'outbound']);

type Draft<E extends AnyEvent> = Omit<E, 'id' | 'createdAt'> & { id?: string; createdAt?: number };

/** Fills in id and creation time. A platform-derived id makes re-delivery of one message idempotent. */
export function createEvent<E extends AnyEvent>(draft: Draft<E>): E {
  const { id, createdAt, ...fields } = draft;
  // Not `{ ...draft, createdAt }`: on Node 20's V8, a spread followed by a property the source does not
  // have gives every object a hidden class of its own, and every place an event goes (bus, journal,
  // channels) turns megamorphic. Built this way, all events of one call site share one.
  return { id: id ?? randomUUID(), createdAt: createdAt ?? Date.now(), ...fields } as E;
}
