import { describe, expect, it } from 'vitest';
import { AlbumBatch, albumMessage } from '../../../src/channels/telegram/albums.ts';
import type { TelegramMessage } from '../../../src/channels/telegram/inbound.ts';

const msg = (id: number, fields: Partial<TelegramMessage> = {}): TelegramMessage => ({
  message_id: id, chat: { id: 7, type: 'private' }, from: { id: 7, is_bot: false }, photo: [{ file_id: `p${id}` }], ...fields,
});

describe('albums in a getUpdates batch', () => {
  it("holds an album's messages back until its last one in the batch, which brings them all", () => {
    const albums = new AlbumBatch();
    const [a, b, c] = [msg(10, { media_group_id: 'g', caption: 'trip' }), msg(11, { media_group_id: 'g' }), msg(12, { media_group_id: 'g' })];
    const alone = msg(13, { text: 'hi', photo: undefined });
    albums.noteBatch([{ message: a }, { message: b }, { message: alone }, { message: c }]);
    expect(albums.take(a)).toEqual([]);
    expect(albums.take(b)).toEqual([]);
    expect(albums.take(alone)).toEqual([alone]);
    expect(albums.take(c)).toEqual([a, b, c]);
  });

  it('an album split over two batches, or of one message, is handled as it comes; groups of two chats stay apart', () => {
    const albums = new AlbumBatch();
    const first = msg(20, { media_group_id: 'g' });
    albums.noteBatch([{ message: first }]);
    expect(albums.take(first)).toEqual([first]);
    const mine = msg(21, { media_group_id: 'same' });
    const theirs = msg(22, { media_group_id: 'same', chat: { id: 8, type: 'private' } });
    albums.noteBatch([{ message: mine }, { message: theirs }]);
    expect([albums.take(mine), albums.take(theirs)]).toEqual([[mine], [theirs]]);
  });

  it("stands for the album with its first message's id and whichever caption it has", () => {
    const album = [msg(30, { media_group_id: 'g' }), msg(31, { media_group_id: 'g', caption: '@bot look', caption_entities: [{ type: 'mention', offset: 0, length: 4 }] })];
    expect(albumMessage(album)).toMatchObject({ message_id: 30, caption: '@bot look', caption_entities: [{ type: 'mention', offset: 0, length: 4 }] });
    expect(albumMessage([album[0]!])).toBe(album[0]);
  });
});
