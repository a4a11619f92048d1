import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Bot, GrammyError, HttpError, InputFile } from 'grammy';
import { FakeTelegram } from './telegram.ts';
import { waitFor } from '../helpers/wait.ts';

describe('FakeTelegram with the real grammY Bot', () => {
  let fake: FakeTelegram;
  let bot: Bot;
  let polling: Promise<void> | undefined;

  beforeEach(async () => {
    fake = await FakeTelegram.start({ botUsername: 'helper_bot' });
    bot = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
    polling = undefined;
  });

  afterEach(async () => {
    if (bot.isRunning()) await bot.stop();
    await polling;
    await fake.close();
  });

  /** Starts long polling; the returned promise settles when polling ends. */
  function startPolling(): void {
    polling = bot.start({ drop_pending_updates: false, timeout: 30 });
  }

  it('delivers a private message and records the reply', async () => {
    bot.on('message:text', (ctx) => ctx.reply(`echo: ${ctx.message.text}`, { reply_parameters: { message_id: ctx.message.message_id } }));
    startPolling();
    const said = fake.userSays({ text: 'hi there', firstName: 'Bob' });
    expect(said.chat.id).toBe(said.from.id);
    expect(said.chat.type).toBe('private');

    const [reply] = await waitFor(() => fake.botMessages(said.chat.id).length > 0 && fake.botMessages(said.chat.id), 5_000, 'the echo');
    expect(reply?.text).toBe('echo: hi there');
    expect(reply?.from.username).toBe('helper_bot');
    expect(reply?.reply_to_message?.message_id).toBe(said.message_id);
    expect(reply?.message_id).toBeGreaterThan(said.message_id);
    expect(fake.requests.map((r) => r.method).slice(0, 3)).toEqual(['getMe', 'deleteWebhook', 'getUpdates']);
  });

  it('confirms updates through the offset and never redelivers them', async () => {
    fake.userSays({ text: 'one' });
    fake.userSays({ text: 'two' });
    const [, second] = fake.pendingUpdates;
    const seen: number[] = [];
    bot.on('message', (ctx) => void seen.push(ctx.update.update_id));
    startPolling();
    await waitFor(() => seen.length === 2, 5_000, 'both updates');
    await waitFor(() => fake.heldPolls === 1, 5_000, 'the next poll');
    expect(fake.confirmedOffset).toBe((second?.update_id ?? 0) + 1);
    expect(fake.pendingUpdates).toEqual([]);

    fake.userSays({ text: 'three' });
    const third = fake.pendingUpdates[0]?.update_id ?? 0;
    await waitFor(() => seen.length === 3, 5_000, 'the third update');
    expect(new Set(seen).size).toBe(3);
    await bot.stop(); // grammY confirms what it handled on the way out
    expect(fake.confirmedOffset).toBe(third + 1);

    // Raw: an unconfirmed update comes back, a confirmed one never does, even with offset 0.
    fake.userSays({ text: 'four' });
    const [again] = await bot.api.getUpdates({ offset: 0, timeout: 0 });
    expect(again?.message?.text).toBe('four');
    expect((await bot.api.getUpdates({ offset: 0, timeout: 0 })).map((u) => u.update_id)).toEqual([again?.update_id]);
    expect(await bot.api.getUpdates({ offset: (again?.update_id ?? 0) + 1, timeout: 0 })).toEqual([]);
    expect(await bot.api.getUpdates({ offset: 0, timeout: 0 })).toEqual([]);
  });

  it('answers a held long poll as soon as an update arrives', async () => {
    const started = Date.now();
    const poll = bot.api.getUpdates({ offset: 0, timeout: 30 });
    await waitFor(() => fake.heldPolls === 1, 5_000, 'the held poll');
    fake.userSays({ text: 'wake up' });
    const updates = await poll;
    expect(updates.map((u) => u.message?.text)).toEqual(['wake up']);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('ends an empty long poll after its timeout', async () => {
    const started = Date.now();
    expect(await bot.api.getUpdates({ timeout: 1 })).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('surfaces an injected 429 as a GrammyError with retry_after, then recovers', async () => {
    const chat = fake.userSays({ text: 'hi' }).chat.id;
    fake.failNext('sendMessage', 1, { kind: '429', retryAfter: 7 });
    const err = await bot.api.sendMessage(chat, 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrammyError);
    expect((err as GrammyError).error_code).toBe(429);
    expect((err as GrammyError).parameters.retry_after).toBe(7);
    expect((err as GrammyError).description).toBe('Too Many Requests: retry after 7');
    expect(fake.botMessages()).toEqual([]);
    await bot.api.sendMessage(chat, 'x');
    expect(fake.botMessages(chat).map((m) => m.text)).toEqual(['x']);
    expect(fake.requests.filter((r) => r.method === 'sendMessage').map((r) => r.status)).toEqual([429, 200]);
  });

  it('drops the connection, answers 500 and conflicts on demand', async () => {
    const chat = fake.userSays({}).chat.id;
    fake.failNext('sendMessage', 1, { kind: 'drop' });
    await expect(bot.api.sendMessage(chat, 'x')).rejects.toBeInstanceOf(HttpError);
    fake.failNext('sendChatAction', 1, { kind: '500' });
    await expect(bot.api.sendChatAction(chat, 'typing')).rejects.toMatchObject({ error_code: 500 });
    fake.failNext('sendMessage', 1, { kind: 'drop', afterEffect: true });
    await expect(bot.api.sendMessage(chat, 'sent but unanswered')).rejects.toBeInstanceOf(HttpError);
    expect(fake.botMessages(chat).map((m) => m.text)).toEqual(['sent but unanswered']);
    fake.failNext('getUpdates', 1, { kind: 'conflict' });
    await expect(bot.start({ drop_pending_updates: false })).rejects.toMatchObject({
      error_code: 409,
      description: 'Conflict: terminated by other getUpdates request',
    });
  });

  it('rejects malformed HTML with "can\'t parse entities" and parses good HTML', async () => {
    const chat = fake.userSays({}).chat.id;
    for (const html of ['<b>unclosed', 'a < b', 'Tom & Jerry', '<b>x</i>', '<div>x</div>', '</b>', '<span>x</span>']) {
      await expect(bot.api.sendMessage(chat, html, { parse_mode: 'HTML' }), html).rejects.toThrow("can't parse entities");
    }
    fake.failNext('sendMessage', 1, { kind: 'parse-entities' });
    await expect(bot.api.sendMessage(chat, 'plain')).rejects.toMatchObject({ error_code: 400 });

    const html = '<b>bold</b> &amp; <a href="https://example.com/?a=1&amp;b=2">link</a> &lt;3 &#128512; <pre><code class="language-ts">x > 1</code></pre>';
    const msg = await bot.api.sendMessage(chat, html, { parse_mode: 'HTML' });
    expect(msg.text).toBe('bold & link <3 😀 x > 1');
    expect(msg.entities).toEqual([
      { type: 'bold', offset: 0, length: 4 },
      { type: 'text_link', offset: 7, length: 4, url: 'https://example.com/?a=1&b=2' },
      { type: 'pre', offset: 18, length: 5, language: 'ts' },
    ]);
    const rich = await bot.api.sendMessage(
      chat,
      `<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler><blockquote expandable>q</blockquote><a href='https://x.y/?q=">'>l</a>`,
      { parse_mode: 'HTML' },
    );
    expect(rich.text).toBe('stql');
    expect(rich.entities?.map((e) => e.type)).toEqual(['spoiler', 'spoiler', 'expandable_blockquote', 'text_link']);
  });

  it('enforces the 4096 UTF-16 unit limit after parsing, and non-empty text', async () => {
    const chat = fake.userSays({}).chat.id;
    await expect(bot.api.sendMessage(chat, 'a'.repeat(4097))).rejects.toThrow('Bad Request: message is too long');
    await expect(bot.api.sendMessage(chat, '😀'.repeat(2049))).rejects.toThrow('message is too long');
    await expect(bot.api.sendMessage(chat, '  ')).rejects.toThrow('Bad Request: message text is empty');
    await expect(bot.api.sendMessage(chat, '<b></b>', { parse_mode: 'HTML' })).rejects.toThrow('message text is empty');
    await bot.api.sendMessage(chat, 'a'.repeat(4096));
    await bot.api.sendMessage(chat, `<b>${'a'.repeat(4090)}</b>&amp;`, { parse_mode: 'HTML' });
    expect(fake.botMessages(chat)).toHaveLength(2);
  });

  it('builds group messages with mentions, topics and replies', async () => {
    const said = fake.userSays({ chatType: 'supergroup', isForum: true, threadId: 7, mention: true, text: 'what time is it?' });
    expect(said.chat.id).toBeLessThan(0);
    expect(said.text).toBe('@helper_bot what time is it?');
    expect(said.entities).toEqual([{ type: 'mention', offset: 0, length: 11 }]);
    expect(said.is_topic_message).toBe(true);

    const mentioned: string[] = [];
    bot.on('message::mention', (ctx) => void mentioned.push(ctx.message.text ?? ''));
    startPolling();
    await waitFor(() => mentioned.length === 1, 5_000, 'the mention');

    const reply = await bot.api.sendMessage(said.chat.id, 'noon', { message_thread_id: 7, reply_parameters: { message_id: said.message_id } });
    expect(reply.message_thread_id).toBe(7);
    expect(reply.reply_to_message?.message_id).toBe(said.message_id);
    const followUp = fake.userSays({ chatId: said.chat.id, text: 'thanks', replyToMessage: fake.botMessages(said.chat.id)[0] });
    expect(followUp.reply_to_message?.from?.is_bot).toBe(true);

    const cmd = fake.userSays({ text: '/help@helper_bot' });
    expect(cmd.entities).toEqual([{ type: 'bot_command', offset: 0, length: 16 }]);
    await expect(bot.api.sendMessage(said.chat.id, 'x', { reply_parameters: { message_id: 999 } })).rejects.toThrow('message to be replied not found');
    await expect(bot.api.sendMessage(123, 'x')).rejects.toThrow('chat not found');
  });

  it('injects edits and media shaped as Telegram sends them', async () => {
    const typo = fake.userSays({ text: 'tpyo' });
    fake.userSays({ edited: true, messageId: typo.message_id, text: 'typo' });
    fake.userSays({ photo: true, caption: 'look', mention: true });
    fake.userSays({ sticker: true });
    const updates = await bot.api.getUpdates({ offset: 0, timeout: 0 });
    expect(updates.map((u) => Object.keys(u).find((k) => k !== 'update_id'))).toEqual(['message', 'edited_message', 'message', 'message']);
    expect(updates[1]?.edited_message).toMatchObject({ message_id: typo.message_id, text: 'typo', date: typo.date });
    expect(updates[2]?.message).toMatchObject({ caption: '@helper_bot look', caption_entities: [{ type: 'mention', offset: 0, length: 11 }] });
    expect(updates[2]?.message?.photo).toHaveLength(2);
    expect(updates[3]?.message?.sticker?.emoji).toBe('👍');
    expect(updates[3]?.message?.text).toBeUndefined();
  });

  it('edits, deletes, chat actions and commands', async () => {
    const chat = fake.userSays({}).chat.id;
    const sent = await bot.api.sendMessage(chat, 'draft');
    await bot.api.sendChatAction(chat, 'typing');
    expect(fake.chatActions).toMatchObject([{ chatId: chat, action: 'typing' }]);
    const edited = await bot.api.editMessageText(chat, sent.message_id, '<i>final</i>', { parse_mode: 'HTML' });
    expect(edited).toMatchObject({ text: 'final', entities: [{ type: 'italic', offset: 0, length: 5 }] });
    expect(fake.edits).toMatchObject([{ chatId: chat, messageId: sent.message_id, text: 'final' }]);
    expect(fake.botMessages(chat)[0]?.text).toBe('final');
    await expect(bot.api.editMessageText(chat, sent.message_id, '<i>final</i>', { parse_mode: 'HTML' })).rejects.toThrow('message is not modified');
    expect(await bot.api.deleteMessage(chat, sent.message_id)).toBe(true);
    await expect(bot.api.deleteMessage(chat, sent.message_id)).rejects.toThrow('message to delete not found');

    expect(await bot.api.setMyCommands([{ command: 'help', description: 'Show help' }])).toBe(true);
    expect(await bot.api.getMyCommands()).toEqual([{ command: 'help', description: 'Show help' }]);
  });

  it('speaks HTTP like the Bot API: 401, 404, form and query parameters', async () => {
    const chat = fake.userSays({}).chat.id;
    const wrong = new Bot('1:wrong', { client: { apiRoot: fake.apiRoot } });
    await expect(wrong.api.getMe()).rejects.toMatchObject({ error_code: 401, description: 'Unauthorized' });

    const base = `${fake.apiRoot}/bot${fake.token}`;
    const missing = await fetch(`${base}/noSuchMethod`, { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ ok: false, error_code: 404, description: 'Not Found: method not found' });

    const form = await fetch(`${base}/sendMessage`, { method: 'POST', body: new URLSearchParams({ chat_id: String(chat), text: 'via form' }) });
    expect(await form.json()).toMatchObject({ ok: true, result: { text: 'via form' } });
    const query = await fetch(`${base}/getme`);
    expect(await query.json()).toMatchObject({ ok: true, result: { is_bot: true, username: 'helper_bot' } });
  });

  it('limits sends per group chat when asked', async () => {
    const group = fake.userSays({ chatType: 'group' }).chat.id;
    fake.limitGroupSends(2);
    await bot.api.sendMessage(group, '1');
    await bot.api.sendMessage(group, '2');
    await expect(bot.api.sendMessage(group, '3')).rejects.toMatchObject({ error_code: 429, parameters: { retry_after: 60 } });
  });

  it('rateLimitChat answers 429 to every call to that chat until retry_after has passed, and only to that chat', async () => {
    const a = fake.userSays({ chatId: 501, text: 'a' }).chat.id;
    const b = fake.userSays({ chatId: 502, text: 'b' }).chat.id;
    fake.rateLimitChat(a, 1);
    await expect(bot.api.sendMessage(a, 'first')).rejects.toMatchObject({ error_code: 429, parameters: { retry_after: 1 } });
    await expect(bot.api.sendChatAction(a, 'typing')).rejects.toMatchObject({ error_code: 429 });
    await bot.api.sendMessage(b, 'other chat');
    await waitFor(async () => (await bot.api.sendMessage(a, 'later').then(() => true, () => false)) || undefined, 3_000, 'the chat to take messages again');
    expect(fake.botMessages(a).map((m) => m.text)).toEqual(['later']);
  });

  it('waitFor names what it waited for', async () => {
    await expect(waitFor(() => false, 30, 'the impossible')).rejects.toThrow('the impossible');
  });

  it('serves getFile and the file path; sends an album in one batch; takes sendPhoto and sendDocument as multipart', async () => {
    const batches: number[][] = [];
    bot.api.config.use(async (prev, method, payload, signal) => {
      const res = await prev(method, payload, signal);
      if (method === 'getUpdates' && res.ok) batches.push((res.result as Array<{ update_id: number }>).map((u) => u.update_id));
      return res;
    });
    const seen: number[] = [];
    bot.on('message', (ctx) => void seen.push(ctx.message.message_id));
    startPolling();
    await waitFor(() => fake.heldPolls > 0, 5_000, 'a held poll');
    const album = fake.userSendsAlbum([{ chatId: 31, photo: Buffer.from('one'), caption: 'trip' }, { chatId: 31, photo: Buffer.from('two') }]);
    await waitFor(() => seen.length === 2, 5_000, 'the album');
    expect(batches.filter((b) => b.length > 0)).toEqual([[expect.any(Number), expect.any(Number)]]);
    expect(album.map((m) => m.media_group_id)).toEqual([album[0]!.media_group_id, album[0]!.media_group_id]);

    const largest = album[1]!.photo!.at(-1)!;
    const file = await bot.api.getFile(largest.file_id);
    const res = await fetch(`${fake.apiRoot}/file/bot${fake.token}/${file.file_path}`);
    expect(Buffer.from(await res.arrayBuffer()).toString()).toBe('two');
    expect(fake.downloads).toEqual([file.file_path]);
    expect((await fetch(`${fake.apiRoot}/file/botWRONG/${file.file_path}`)).status).toBe(404);
    const big = fake.userSays({ chatId: 31, document: { name: 'big.bin', data: Buffer.alloc(21 * 1_048_576) } });
    await expect(bot.api.getFile(big.document!.file_id)).rejects.toThrow(/file is too big/);

    const photo = await bot.api.sendPhoto(31, new InputFile(Buffer.from('png bytes'), 'chart.png'), { caption: 'the chart' });
    const doc = await bot.api.sendDocument(31, new InputFile(Buffer.from('a,b\n'), 'data.csv'));
    expect([photo.photo?.length, photo.caption, doc.document?.file_name]).toEqual([1, 'the chart', 'data.csv']);
    expect(fake.uploadsTo(31).map((u) => [u.method, u.name, u.data.toString()])).toEqual([['sendPhoto', 'chart.png', 'png bytes'], ['sendDocument', 'data.csv', 'a,b\n']]);
    await expect(bot.api.sendDocument(31, new InputFile(Buffer.alloc(51 * 1_048_576), 'huge.bin'))).rejects.toThrow(/413/);
  });
});
