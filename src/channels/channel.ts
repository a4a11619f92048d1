import type { EventSource, InboundEvent, InboundFile } from '../core/events.ts';
import type { Worker } from '../core/worker.ts';
import type { FileLocation } from '../media/download.ts';

/** Publishes an inbound event; resolves once it is durable (false: a duplicate, already handled). */
export type Publish = (event: InboundEvent) => Promise<boolean>;

export interface OutgoingChunk {
  target: EventSource;
  text: string;
  /** Position of this chunk in its reply; the first one quotes the user's message in groups. */
  index: number;
  /** The outbound event it belongs to; with the index, a platform idempotency key (Discord's nonce). */
  eventId: string;
  /**
   * Set on a second try after the platform refused the chunk for good: one piece of it (see
   * `render(..., 'safe')`), sent in the safest form, plain text quoting nothing.
   */
  safe?: { piece: number };
}

/** A workspace file for a chat (the `send_file` tool); `caption` may be empty. */
export interface OutgoingFile {
  target: EventSource;
  /** Absolute path. */
  path: string;
  name: string;
  caption: string;
  /** The outbound event it belongs to: a platform idempotency key, as for chunks. */
  eventId: string;
}

export interface ChannelStatus {
  state: 'connecting' | 'connected' | 'reconnecting' | 'stopped' | 'failed';
  lastError?: string;
}

/**
 * A chat platform. As a Worker it connects on `start` and turns the platform's messages into
 * InboundEvents through the `Publish` it was built with; the delivery worker sends replies
 * through `render` and `send`, and streams them with `edit` where the platform allows.
 */
export interface Channel extends Worker {
  readonly name: string;
  /** How often the typing indicator must be renewed to stay visible. */
  readonly typingIntervalMs: number;
  /** Stops taking new platform messages, keeps sending (graceful shutdown drains replies first). */
  pause(): Promise<void>;
  /**
   * Splits and formats a reply into the messages this platform will show, in order. `safe`: split
   * at half the size, for plain-text pieces of a chunk the platform refused.
   */
  render(content: string, form?: 'safe'): string[];
  /**
   * Sends one rendered chunk; resolves with the platform's id of the new message where it can be
   * edited. Throws ChannelError (retryable or not) when the platform refuses.
   */
  send(chunk: OutgoingChunk): Promise<string | void>;
  /**
   * Replaces the text of a message `send` made (a reply shown while the model writes it). A channel
   * without it shows each reply only once it is complete.
   */
  edit?(target: EventSource, messageId: string, text: string): Promise<void>;
  /** How far apart edits to one chat must be to stay under the platform's limits (default: a second). */
  editIntervalMs?(target: EventSource): number;
  /** Removes a message `send` made: part of a draft the final reply turned out not to need. */
  remove?(target: EventSource, messageId: string): Promise<void>;
  sendTyping(target: EventSource): Promise<void>;
  status(): ChannelStatus;
  /** Where a file a user sent can be downloaded: on the platform's own file host only. */
  locateFile?(file: InboundFile, signal: AbortSignal): Promise<FileLocation>;
  /** Sends a file, an image as a photo where the platform has them; throws ChannelError (not retryable when too large). */
  sendFile?(file: OutgoingFile): Promise<string | void>;
  /** The largest file `sendFile` can send to this chat, in bytes. */
  maxFileBytes?(target: EventSource): number;
}
