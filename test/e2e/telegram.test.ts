import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFUSAL_TEXT, TEXT_ONLY_TEXT } from '../../src/channels/access.ts';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram, type FakeMessage } from '../fakes/telegram.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

/** Each test talks in chats of its own, so one daemon serves the whole file. */
const USERS = { alice: 1001, group: 1002, long: 1003, html: 1004, limited: 1005, slow: 1006, media: 1007, big: 1008, odd: 1009 };
const STRANGER = 6666;
const GROUP = -1_001_000_000_001;
const FORUM = -1_001_000_000_777;

describe('Telegram channel, end to end: the real daemon against a fake Bot API and a fake LLM', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let daemon: Daemon;

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    daemon = await Daemon.start({
      config: {
        llm: { api_base: llm.url, model: 'fake', max_retries: 0 },
        channels: { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot, allowed_user_ids: Object.values(USERS) } },
      },
    });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  const replies = (chatId: number): FakeMessage[] => telegram.botMessages(chatId);
  const waitForReplies = (chatId: number, n: number, timeoutMs = 10_000): Promise<FakeMessage[]> =>
    waitFor(() => replies(chatId).length >= n && replies(chatId), timeoutMs, `${n} bot message(s) in chat ${chatId}`);
  const llmRequestFor = (content: string) => llm.requests.find((r) => r.messages.at(-1)?.content === content);
  const sends = (chatId: number) => telegram.requests.filter((r) => r.method === 'sendMessage' && Number(r.params.chat_id) === chatId);

  it('starts with getMe and registers the commands menu', () => {
    const methods = telegram.requests.map((r) => r.method);
    expect(methods.slice(0, 2)).toEqual(['getMe', 'setMyCommands']);
    const commands = telegram.requests.find((r) => r.method === 'setMyCommands')!.params.commands as Array<{ command: string }>;
    expect(commands.map((c) => c.command)).toEqual(expect.arrayContaining(['help', 'clear', 'session']));
  });

  it('answers a private message; the next request carries the first turn; an edit is not answered again', async () => {
    const first = telegram.userSays({ chatId: USERS.alice, text: 'my name is Alice' });
    const [reply] = await waitForReplies(USERS.alice, 1);
    expect(reply!.text).toBe('echo: my name is Alice');
    expect(reply!.reply_to_message).toBeUndefined(); // private chats get plain replies

    telegram.userSays({ chatId: USERS.alice, messageId: first.message_id, edited: true, text: 'my name is Alicia' });
    telegram.userSays({ chatId: USERS.alice, text: 'what is my name?' });
    const all = await waitForReplies(USERS.alice, 2);
    expect(all[1]!.text).toBe('echo: what is my name?');
    const messages = llmRequestFor('what is my name?')!.messages;
    expect(messages.slice(-3)).toMatchObject([
      { role: 'user', content: 'my name is Alice' },
      { role: 'assistant', content: 'echo: my name is Alice' },
      { role: 'user', content: 'what is my name?' },
    ]);
    expect(llm.requests.some((r) => JSON.stringify(r.messages).includes('Alicia'))).toBe(false);
    expect(replies(USERS.alice)).toHaveLength(2);
  });

  it('in a group answers a mention as a reply, a reply to the bot and /help@botname; ignores the rest', async () => {
    const user = { chatId: GROUP, userId: USERS.group };
    telegram.userSays({ ...user, text: 'just chatting, nothing for the bot' });
    telegram.userSays({ ...user, text: '/help@some_other_bot' });
    telegram.userSays({ chatId: GROUP, userId: 5555, isBot: true, mention: true, text: 'I am another bot' });
    const mention = telegram.userSays({ ...user, mention: true, text: 'what is 2+2?' });
    const [answer] = await waitForReplies(GROUP, 1);
    expect(answer!.text).toBe('echo: what is 2+2?'); // the mention is stripped
    expect(answer!.reply_to_message?.message_id).toBe(mention.message_id);

    const followUp = telegram.userSays({ ...user, replyToMessage: answer, text: 'and 3+3?' });
    const second = (await waitForReplies(GROUP, 2))[1]!;
    expect(second.text).toBe('echo: and 3+3?');
    expect(second.reply_to_message?.message_id).toBe(followUp.message_id);

    telegram.userSays({ ...user, text: `/help@${telegram.bot.username}` });
    const help = (await waitForReplies(GROUP, 3))[2]!;
    expect(help.text).toContain('/clear');

    // updates are handled in order: by now the ignored ones were seen, and cost no LLM call
    expect(replies(GROUP)).toHaveLength(3);
    const asked = JSON.stringify(llm.requests.map((r) => r.messages));
    expect(asked).not.toContain('just chatting');
    expect(asked).not.toContain('another bot');
  });

  it('keeps a forum topic apart and answers inside it', async () => {
    const question = telegram.userSays({ chatId: FORUM, userId: USERS.group, isForum: true, threadId: 7, mention: true, text: 'in the topic' });
    const [answer] = await waitForReplies(FORUM, 1);
    expect(answer).toMatchObject({ text: 'echo: in the topic', message_thread_id: 7, reply_to_message: { message_id: question.message_id } });
    await daemon.waitForLog('message received', (l) => l.sessionId === `telegram:${FORUM}:7`);
  });

  it('costs a stranger no LLM call: one short refusal in private, silence in groups', async () => {
    const before = llm.requests.length;
    telegram.userSays({ chatId: STRANGER, text: 'let me in' });
    const [refusal] = await waitForReplies(STRANGER, 1);
    expect(refusal!.text).toBe(REFUSAL_TEXT);
    telegram.userSays({ chatId: STRANGER, text: 'please?' });
    telegram.userSays({ chatId: GROUP, userId: STRANGER, mention: true, text: 'hello bot' });
    // a message after them, answered, shows they were handled
    telegram.userSays({ chatId: USERS.alice, text: 'ping' });
    await waitForReplies(USERS.alice, 3);
    expect(replies(STRANGER)).toHaveLength(1);
    expect(replies(GROUP)).toHaveLength(3);
    expect(llm.requests.length - before).toBe(1); // Alice's ping only
    await daemon.waitForLog(/not in channels.telegram.allowed_user_ids/, (l) => l.userId === String(STRANGER));
  });

  it('splits a 10,000-character reply with a code block into ordered, valid chunks of <= 4096, the block whole in each', async () => {
    const code = Array.from({ length: 150 }, (_, i) => `if (a < ${i} && b > 0) x += "<b>${i}</b>";`);
    const para = (n: number) => `Paragraph ${n}. ${'All work and no play makes Jack a dull boy. '.repeat(20).trim()}`;
    const long = [para(1), para(2), '```ts', ...code, '```', para(3), para(4), para(5)].join('\n\n').replace(/\n\n(?=if|```\n)/g, '\n');
    expect(long.length).toBeGreaterThan(9_000);
    llm.enqueue({ content: long });
    telegram.userSays({ chatId: USERS.long, text: 'write me something long' });
    await waitFor(() => replies(USERS.long).some((m) => m.text?.includes('Paragraph 5')), 10_000, 'the last chunk');

    const chunks = replies(USERS.long);
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    for (const chunk of chunks) expect(chunk.text!.length).toBeLessThanOrEqual(4096);
    const requests = sends(USERS.long);
    expect(requests.every((r) => r.status === 200 && r.params.parse_mode === 'HTML')).toBe(true);
    for (const r of requests) {
      const html = String(r.params.text);
      expect(html.match(/<pre>/g)?.length ?? 0).toBe(html.match(/<\/pre>/g)?.length ?? 0);
    }
    const text = chunks.map((m) => m.text!).join('\n');
    const order = [1, 2, 3, 4, 5].map((n) => text.indexOf(`Paragraph ${n}.`));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(order[0]).toBeGreaterThanOrEqual(0);
    // every chunk with code has it inside one pre entity (language kept); together they are the block, in order
    const codeSeen: string[] = [];
    let chunksWithCode = 0;
    for (const chunk of chunks) {
      const lines = chunk.text!.split('\n').filter((l) => l.startsWith('if (a <'));
      if (lines.length === 0) continue;
      chunksWithCode++;
      const pre = chunk.entities?.filter((e) => e.type === 'pre') ?? [];
      expect(pre).toHaveLength(1);
      expect(pre[0]!.language).toBe('ts');
      const inside = chunk.text!.slice(pre[0]!.offset, pre[0]!.offset + pre[0]!.length).split('\n');
      expect(inside).toEqual(lines);
      codeSeen.push(...inside);
    }
    expect(chunksWithCode).toBeGreaterThanOrEqual(2); // the block was cut, closed and reopened
    expect(codeSeen).toEqual(code);
  });

  it('re-sends a chunk whose HTML Telegram rejects as plain text', async () => {
    const markdown = '**Bold** claim: 1 < 2 & `code`';
    llm.enqueue({ content: markdown });
    telegram.failNext('sendMessage', 1, { kind: 'parse-entities' });
    telegram.userSays({ chatId: USERS.html, text: 'format something' });
    const [reply] = await waitForReplies(USERS.html, 1);
    expect(reply!.text).toBe(markdown);
    expect(reply!.entities).toBeUndefined();
    const [rejected, plain] = sends(USERS.html);
    expect(rejected).toMatchObject({ status: 400, params: { parse_mode: 'HTML' } });
    expect(plain!.params.parse_mode).toBeUndefined();
    await daemon.waitForLog(/rejected the HTML/);
  });

  it('answers exactly once when the next 3 sendMessage calls get 429 retry_after 1', async () => {
    telegram.failNext('sendMessage', 3, { kind: '429', retryAfter: 1 });
    const started = Date.now();
    telegram.userSays({ chatId: USERS.limited, text: 'rate limit me' });
    await waitForReplies(USERS.limited, 1, 15_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_900); // it waited retry_after each time
    expect(sends(USERS.limited).map((r) => r.status)).toEqual([429, 429, 429, 200]);
    telegram.userSays({ chatId: USERS.limited, text: 'anything else?' });
    await waitForReplies(USERS.limited, 2);
    expect(replies(USERS.limited).map((m) => m.text)).toEqual(['echo: rate limit me', 'echo: anything else?']);
  });

  it('shows typing while the LLM takes 6 s', async () => {
    llm.setLatency(6_000);
    try {
      telegram.userSays({ chatId: USERS.slow, text: 'think hard' });
      const [reply] = await waitForReplies(USERS.slow, 1, 15_000);
      expect(reply!.text).toBe('echo: think hard');
    } finally {
      llm.setLatency(0);
    }
    const sentAt = sends(USERS.slow).at(-1)!.at;
    const typing = telegram.chatActions.filter((a) => a.chatId === USERS.slow && a.action === 'typing' && a.at <= sentAt);
    expect(typing.length).toBeGreaterThanOrEqual(2);
  });

  it('survives a sticker, a photo, an empty text, a 4096-character text and NUL/emoji/RTL text', async () => {
    telegram.userSays({ chatId: USERS.media, sticker: true });
    telegram.userSays({ chatId: USERS.media, photo: true, caption: 'what is in this picture?' });
    telegram.userSays({ chatId: USERS.media, text: '' });
    const media = await waitForReplies(USERS.media, 2);
    expect(media.map((m) => m.text)).toEqual([TEXT_ONLY_TEXT, expect.stringMatching(/^echo: what is in this picture\?\n\n\[The user sent an image, saved as inbox\/telegram_1007\/\d+-0-photo\.jpg\]$/)]);

    const big = `${'lorem ipsum '.repeat(342).slice(0, 4095)}!`;
    expect(big).toHaveLength(4096);
    telegram.userSays({ chatId: USERS.big, text: big });
    const odd = 'nul\u0000here 👩‍👩‍👧‍👦 🇺🇦 שלום עולם مرحبا \u202Eevil\u202C ok';
    telegram.userSays({ chatId: USERS.odd, text: odd });
    const bigReply = await waitForReplies(USERS.big, 2);
    expect(bigReply.map((m) => m.text).join(' ')).toContain('ipsum lorem');
    expect(llmRequestFor(big)).toBeDefined();
    const [oddReply] = await waitForReplies(USERS.odd, 1);
    expect(oddReply!.text).toBe(`echo: ${odd}`);

    // still alive, and nothing else was answered
    telegram.userSays({ chatId: USERS.media, text: 'still there?' });
    expect((await waitForReplies(USERS.media, 3))[2]!.text).toBe('echo: still there?');
    expect(daemon.exitCode).toBeUndefined();
    expect(daemon.lines.filter((l) => l.level >= 50)).toEqual([]);
  });

  it('never writes the bot token to its output', () => {
    expect(daemon.output.length).toBeGreaterThan(0);
    expect(daemon.output).not.toContain(telegram.token);
    expect(daemon.output).not.toContain(telegram.token.split(':')[1]);
  });
});
