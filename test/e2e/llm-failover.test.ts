import { afterEach, describe, expect, it } from 'vitest';
import { FakeOpenAI, type FakeRequest } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { OPEN_ACCESS } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { get, httpBase } from '../helpers/http.ts';
import { parsePrometheusText, valueOf } from '../helpers/prometheus-text.ts';
import { waitFor } from '../helpers/wait.ts';

const OWNER = 3_301;

describe('model failover: llm.fallbacks and the circuit breaker, through the real daemon', () => {
  let telegram: FakeTelegram;
  let primary: FakeOpenAI;
  let backup: FakeOpenAI;
  let daemon: Daemon | undefined;

  afterEach(async () => {
    await daemon?.dispose();
    daemon = undefined;
    await Promise.all([telegram?.close(), primary?.close(), backup?.close()]);
  });

  async function start(llm: Record<string, unknown>): Promise<Daemon> {
    [telegram, primary, backup] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start(), FakeOpenAI.start()]);
    backup.setResponder((req: FakeRequest) => ({ content: `backup: ${req.messages.at(-1)?.content}` }));
    daemon = await Daemon.start({
      config: {
        llm: { api_base: primary.url, model: 'main', max_retries: 0, fallbacks: [{ model: 'spare', api_base: backup.url }], ...llm },
        agent: { debounce_ms: 0, retry_backoff_ms: 10 },
        channels: { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot, ...OPEN_ACCESS, owner_user_ids: [OWNER] } },
        limits: { prices: { spare: { input_per_mtok: 1000, output_per_mtok: 2000 } } },
        server: { http_port: 0 },
      },
    });
    return daemon;
  }

  async function ask(text: string): Promise<string> {
    const before = telegram.botMessages(OWNER).length;
    telegram.userSays({ chatId: OWNER, text });
    const replies = await waitFor(() => telegram.botMessages(OWNER).length > before && telegram.botMessages(OWNER), 15_000, `the reply to "${text}"`);
    return replies.at(-1)!.text ?? '';
  }

  it('a primary answering 500 every time: the fallback answers every message, and the breaker sends nothing to the primary during llm.cooldown_s', async () => {
    const running = await start({ cooldown_s: 600 });
    primary.setResponder(() => ({ fault: 'status', status: 500 }));
    for (const n of [1, 2, 3]) expect(await ask(`question ${n}`)).toBe(`backup: question ${n}`);
    // three failures in a row open the breaker: from now on the primary is skipped
    expect(primary.requests).toHaveLength(3);
    await running.waitForLog('the model keeps failing: skipped for llm.cooldown_s, then tried again', (l) => l.model === 'main');
    for (const n of [4, 5, 6]) expect(await ask(`question ${n}`)).toBe(`backup: question ${n}`);
    expect(primary.requests).toHaveLength(3);
    expect(backup.requests.map((r) => r.model)).toEqual(Array(6).fill('spare'));
    // the history went along: the fallback saw the earlier turns
    expect(JSON.stringify(backup.requests.at(-1)!.messages)).toContain('backup: question 5');

    await running.waitForLog('turn done', (l) => l.model === 'spare');
    expect(await ask('/session')).toMatch(/Model: main\nLast answer from: spare \(a fallback: main had failed\)/);
    // the cost of what the fallback answered, priced as the fallback
    const usage = await ask('/usage');
    expect(usage).toMatch(/Estimated LLM cost per model \(limits\.prices\):\n {2}spare: today \d+\.\d{4}, this month \d+\.\d{4}/);
    const metrics = parsePrometheusText((await get(`${await httpBase(running)}/metrics`)).text);
    expect(valueOf(metrics, 'mybot_llm_errors_total', { model: 'main', kind: 'server' })).toBe(3);
    expect(valueOf(metrics, 'mybot_llm_estimated_cost', { model: 'spare', period: 'month' })).toBeGreaterThan(0);
    expect(valueOf(metrics, 'mybot_llm_estimated_cost', { model: 'spare', period: 'today' })).toBeGreaterThan(0);
  });

  it('after the cooldown one message tries the primary again, and a primary that answers takes over', async () => {
    const running = await start({ cooldown_s: 1 });
    primary.setResponder(() => ({ fault: 'status', status: 503 }));
    for (const n of [1, 2, 3]) expect(await ask(`q${n}`)).toBe(`backup: q${n}`);
    await running.waitForLog('the model keeps failing: skipped for llm.cooldown_s, then tried again');
    primary.setResponder((req) => ({ content: `main: ${req.messages.at(-1)?.content}` }));
    const opened = Date.now();
    // within the second of cooldown the fallback answers; after it, the primary again
    const answer = await waitFor(async () => {
      const text = await ask(`probe ${Date.now() - opened}`);
      return text.startsWith('main: ') && text;
    }, 15_000, 'an answer from the primary');
    expect(answer).toMatch(/^main: probe \d+$/);
    await running.waitForLog('the model answers again: no longer skipped', (l) => l.model === 'main');
    expect(await ask('next')).toBe('main: next');
  });

  it('a 404 (model not found) goes to the fallback; a 401 does not, and the user gets the short error', async () => {
    await start({ cooldown_s: 600 });
    primary.enqueue({ fault: 'status', status: 404, message: 'The model `main` does not exist' });
    expect(await ask('hello')).toBe('backup: hello');
    primary.enqueue({ fault: 'status', status: 401, message: 'Incorrect API key provided' });
    expect(await ask('again')).toMatch(/^Sorry, my language model turned me away/);
    expect(backup.requests).toHaveLength(1);
  });
});
