import type { TelegramMessage } from './inbound.ts';

/**
 * Albums (several photos or files sent together) arrive as one message each, sharing a
 * media_group_id, normally in the same getUpdates batch. The batch is seen here when it arrives,
 * so its album's messages become one InboundEvent, handled when the album's last message of the
 * batch is: one turn, one LLM request. Nothing is confirmed to Telegram before the whole batch is
 * handled, so holding the first messages back loses nothing. An album split over two batches
 * makes two events, which the agent's burst handling takes together.
 */
export class AlbumBatch {
  private albums = new Map<string, TelegramMessage[]>();

  /** Called with each getUpdates result, before its updates are handled. */
  noteBatch(updates: ReadonlyArray<{ message?: TelegramMessage }>): void {
    const albums = new Map<string, TelegramMessage[]>();
    for (const { message } of updates) {
      if (!message?.media_group_id) continue;
      const key = keyOf(message);
      albums.set(key, [...(albums.get(key) ?? []), message]);
    }
    this.albums = albums;
  }

  /**
   * The messages to handle for `message`: itself alone; nothing yet (an album's message before
   * its last one in the batch); or, at the last one, the whole album in order.
   */
  take(message: TelegramMessage): TelegramMessage[] {
    const album = message.media_group_id ? this.albums.get(keyOf(message)) : undefined;
    if (!album || album.length < 2) return [message];
    return album.at(-1)!.message_id === message.message_id ? [...album].sort((a, b) => a.message_id - b.message_id) : [];
  }
}

/** One message standing for its album: the first one's id and place, the caption (and its entities) of whichever has it. */
export function albumMessage(album: readonly TelegramMessage[]): TelegramMessage {
  const first = album[0]!;
  const captioned = album.find((m) => m.caption !== undefined);
  if (!captioned || captioned === first) return first;
  return { ...first, caption: captioned.caption!, ...(captioned.caption_entities ? { caption_entities: captioned.caption_entities } : {}) };
}

function keyOf(message: TelegramMessage): string {
  return `${message.chat.id}:${message.media_group_id}`;
}
