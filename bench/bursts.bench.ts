/**
 * What answering at once costs when a user sends several messages in a row. In chats of their own,
 * users each send 3 messages 100 ms apart; the fake LLM takes 1 s. With the default config the
 * turn starts at the first message and each further message cancels the call (nothing of the
 * answer shows yet) and starts it again over all of them: one reply, but up to 3 requests, each
 * cancelled one billed for its prompt by real providers. Measured side by side with
 * `agent.debounce_ms: 1500` (the old default), which waits for the user to stop typing and makes
 * one request, at the price of 1.5 s on every answer.
 */
import { FakeOpenAI, type FakeRequest } from '../test/fakes/openai.ts';
import { FakeTelegram } from '../test/fakes/telegram.ts';
import { fakesConfig } from '../test/helpers/config.ts';
import { Daemon } from '../test/helpers/daemon.ts';
import { waitFor } from '../test/helpers/wait.ts';
import type { Bench, BenchRow } from './table.ts';

const LLM_MS = 1_000;
const GAP_MS = 100;
const MESSAGES = 3;
const OLD_DEBOUNCE_MS = 1_500;

interface Run {
  /** Median time from a user's last message to the reply at the fake. */
  replyAfterLast: number;
  requestsPerBurst: number;
  /** Characters of the messages sent to the model per burst: what input tokens are billed on. */
  promptCharsPerBurst: number;
  oneReplyEach: boolean;
}

export const run: Bench = async ({ quick }) => {
  const bursts = quick ? 5 : 40;
  const now = await measure(bursts, {}, 60_000);
  const waiting = await measure(bursts, { debounce_ms: OLD_DEBOUNCE_MS }, 70_000);
  const label = `agent.debounce_ms ${OLD_DEBOUNCE_MS} (the old default)`;
  const what = `bursts: ${bursts} users x ${MESSAGES} msgs ${GAP_MS} ms apart, LLM ${LLM_MS} ms, default config`;
  const rows: BenchRow[] = [
    {
      figure: `${what}: reply after the last message, median; one reply per burst: ${now.oneReplyEach && waiting.oneReplyEach ? 'yes' : 'NO'}`,
      value: now.replyAfterLast,
      unit: 'ms',
      baseline: { label, value: waiting.replyAfterLast },
      ratio: now.replyAfterLast / waiting.replyAfterLast,
      target: '< 1x (sooner than waiting)',
      pass: now.replyAfterLast < waiting.replyAfterLast && now.oneReplyEach && waiting.oneReplyEach,
    },
    {
      figure: `${what}: LLM requests per burst, cancelled ones included (the cost of answering at once)`,
      value: now.requestsPerBurst,
      unit: 'requests',
      baseline: { label, value: waiting.requestsPerBurst },
      ratio: now.requestsPerBurst / waiting.requestsPerBurst,
      target: 'reference',
    },
    {
      figure: `${what}: prompt characters sent per burst (input tokens are ~1/4 of them; billed for cancelled calls too)`,
      value: now.promptCharsPerBurst,
      unit: 'chars',
      baseline: { label, value: waiting.promptCharsPerBurst },
      ratio: now.promptCharsPerBurst / waiting.promptCharsPerBurst,
      target: 'reference',
    },
  ];
  return rows;
};

async function measure(bursts: number, agent: Record<string, unknown>, timeoutMs: number): Promise<Run> {
  const [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
  const config = fakesConfig({ llm, telegram });
  const daemon = await Daemon.start({ config: { ...config, agent }, env: { MYBOT_LOG_LEVEL: 'info' } });
  try {
    llm.setLatency(LLM_MS);
    const chats = Array.from({ length: bursts }, (_, i) => 60_000 + i);
    const lastSent = new Map<number, number>();
    for (let m = 0; m < MESSAGES; m++) {
      if (m > 0) await new Promise((resolve) => setTimeout(resolve, GAP_MS)); // the users' pace
      for (const chatId of chats) {
        telegram.userSays({ chatId, text: `burst ${chatId} part ${m}` });
        lastSent.set(chatId, Date.now());
      }
    }
    const replyAt = (chatId: number) => telegram.requests.find((r) => r.method === 'sendMessage' && Number(r.params.chat_id) === chatId && r.status === 200)?.at;
    await waitFor(() => chats.every((chatId) => replyAt(chatId) !== undefined), timeoutMs, 'a reply in every chat');
    // what was sent to the model for each burst
    const requestsOf = (chatId: number) => llm.requests.filter((r) => lastUser(r).startsWith(`burst ${chatId} `));
    const delays = chats.map((chatId) => replyAt(chatId)! - lastSent.get(chatId)!).sort((a, b) => a - b);
    const requests = chats.flatMap(requestsOf);
    await daemon.waitForLog('reply delivered', undefined, 10_000);
    return {
      replyAfterLast: delays[Math.floor(delays.length / 2)]!,
      requestsPerBurst: requests.length / bursts,
      promptCharsPerBurst: requests.reduce((sum, r) => sum + r.messages.reduce((n: number, m: { content?: unknown }) => n + String(m.content ?? '').length, 0), 0) / bursts,
      oneReplyEach: chats.every((chatId) => telegram.botMessages(chatId).length === 1 && telegram.botMessages(chatId)[0]!.text === `echo: ${[0, 1, 2].map((m) => `burst ${chatId} part ${m}`).join('\n\n')}`),
    };
  } finally {
    await daemon.dispose();
    await Promise.all([telegram.close(), llm.close()]);
  }
}

function lastUser(request: FakeRequest): string {
  return String(request.messages.findLast((m: { role: string }) => m.role === 'user')?.content ?? '');
}
