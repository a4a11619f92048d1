import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeReply, FakeRequest } from '../fakes/openai.ts';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { OPEN_ACCESS } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

const OWNER = 7001;
const CHATTY = 7002;
const SPENDER = 7003;
const BURSTY = 7004;

/** Echoes, and reports the usage the test decides: an "expensive" question spends the day's budget at once. */
function model(req: FakeRequest): FakeReply {
  const user = String(req.messages.at(-1)?.content ?? '');
  return { content: `echo: ${user}`, usage: user.includes('expensive') ? { prompt_tokens: 900, completion_tokens: 200 } : { prompt_tokens: 10, completion_tokens: 5 } };
}

describe('per-user limits, end to end: the real daemon, fake Telegram, fake LLM', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let daemon: Daemon;
  let config: Record<string, unknown>;
  const texts = (chatId: number) => telegram.botMessages(chatId).map((m) => m.text ?? '');
  const llmCallsFrom = (chatId: number) => llm.requests.filter((r) => JSON.stringify(r.messages.at(-1)).includes(`"from ${chatId}`)).length;
  const reply = (chatId: number, match: RegExp) => waitFor(() => texts(chatId).find((t) => match.test(t)), 10_000, `a reply matching ${match}`);

  /** Sends and waits until the daemon held it back (logged), so what it did not do can be asserted. */
  async function heldBack(chatId: number, text: string): Promise<void> {
    const message = telegram.userSays({ chatId, text });
    await daemon.waitForLog('message over a limit; not answered', (l) => l.eventId === `telegram:${chatId}:${message.message_id}`);
  }

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    llm.setResponder(model);
    config = {
      llm: { api_base: llm.url, model: 'fake', max_retries: 0 },
      channels: { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot, owner_user_ids: [OWNER], ...OPEN_ACCESS } },
      limits: { per_user: { messages_per_minute: 3, tokens_per_day: 1000 } },
    };
    daemon = await Daemon.start({ config });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  it('3 messages a minute: the 4th and 5th cost 0 LLM calls and bring exactly one notice', async () => {
    // one at a time, each answered: messages sent together would be answered as one turn
    for (let i = 1; i <= 3; i++) {
      telegram.userSays({ chatId: CHATTY, text: `from ${CHATTY} #${i}` });
      await reply(CHATTY, new RegExp(`#${i}$`));
    }
    for (let i = 4; i <= 5; i++) telegram.userSays({ chatId: CHATTY, text: `from ${CHATTY} #${i}` });
    await waitFor(() => daemon.lines.filter((l) => l.msg === 'message over a limit; not answered' && l.userId === String(CHATTY)).length === 2, 10_000, 'two messages held back');
    await waitFor(() => texts(CHATTY).length === 4, 10_000, 'three answers and a notice');
    expect(llmCallsFrom(CHATTY)).toBe(3);
    expect(texts(CHATTY).slice(0, 3)).toEqual([1, 2, 3].map((i) => `echo: from ${CHATTY} #${i}`));
    expect(texts(CHATTY)[3]).toMatch(/^You're writing faster than I may answer \(3 messages a minute\)\. I'll answer again in \d+ s/);
    // commands still work over the limit, without the LLM
    telegram.userSays({ chatId: CHATTY, text: '/usage' });
    expect(await reply(CHATTY, /^Today \(UTC/)).toBe(`Today (UTC, ${new Date().toISOString().slice(0, 10)}), you: 3 messages, 45 tokens.\nLimits: per user 3 messages a minute, 1000 tokens a day.`);
    expect(llmCallsFrom(CHATTY)).toBe(3);
  });

  it('five messages at once: the burst takes in only what the limit allows; the rest costs 0 LLM calls and one notice', async () => {
    for (let i = 1; i <= 5; i++) telegram.userSays({ chatId: BURSTY, text: `from ${BURSTY} #${i}` });
    await waitFor(() => daemon.lines.filter((l) => l.msg === 'message over a limit; not answered' && l.userId === String(BURSTY)).length === 2, 10_000, 'two messages held back');
    await waitFor(() => texts(BURSTY).some((t) => t.startsWith("You're writing faster")), 10_000, 'the notice');
    await waitFor(() => texts(BURSTY).join('\n').includes(`#3`), 10_000, 'the answer to the third message');
    // each admitted message answered once, in one reply or several (calls cancelled because more came are not answers)
    const answers = texts(BURSTY).filter((t) => t.startsWith('echo: ')).join('\n');
    for (const i of [1, 2, 3]) expect(answers.split(`#${i}`)).toHaveLength(2);
    const asked = llm.requests.map((r) => JSON.stringify(r.messages.at(-1))).filter((m) => m.includes(`from ${BURSTY}`));
    for (const i of [4, 5]) expect(asked.some((m) => m.includes(`#${i}`))).toBe(false);
    expect(texts(BURSTY).filter((t) => t.startsWith("You're writing faster"))).toHaveLength(1);
  });

  it('owners are exempt', async () => {
    for (let i = 1; i <= 5; i++) {
      telegram.userSays({ chatId: OWNER, text: `from ${OWNER} #${i}` });
      await reply(OWNER, new RegExp(`#${i}$`));
    }
    expect(texts(OWNER)).toEqual([1, 2, 3, 4, 5].map((i) => `echo: from ${OWNER} #${i}`));
  });

  it('a token budget spent by the reported usage blocks the next message, also after a restart', async () => {
    telegram.userSays({ chatId: SPENDER, text: `from ${SPENDER}: an expensive question` });
    await reply(SPENDER, /^echo: /);
    await heldBack(SPENDER, `from ${SPENDER}: a cheap one`);
    expect(await reply(SPENDER, /budget/)).toMatch(/^You have used today's budget of 1000 tokens\. I'll answer again after midnight UTC/);
    expect(llmCallsFrom(SPENDER)).toBe(1);

    expect(await daemon.kill('SIGTERM')).toBe(0);
    daemon = await Daemon.start({ config, workspace: daemon.workspace });
    const before = texts(SPENDER).length;
    await heldBack(SPENDER, `from ${SPENDER}: after the restart`);
    expect(llmCallsFrom(SPENDER)).toBe(1);
    telegram.userSays({ chatId: SPENDER, text: '/usage' });
    await waitFor(() => texts(SPENDER).length === before + 1, 10_000, 'the /usage answer');
    expect(texts(SPENDER).at(-1)).toMatch(/you: 1 message, 1100 tokens\./); // no second notice in between

    telegram.userSays({ chatId: OWNER, text: '/usage' });
    const top = await reply(OWNER, /Top users today/);
    // among the top users (one whose calls were cancelled for more messages is charged their prompts too)
    expect(top).toMatch(new RegExp(`Top users today:\\n(?: {2}\\d\\. .*\\n)* {2}\\d\\. telegram:${SPENDER}: 1 message, 1100 tokens\\n`));
  });
});
