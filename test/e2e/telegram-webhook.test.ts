import { afterEach, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { httpBase } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';

const PUBLIC_URL = 'https://bot.example.test/telegram/hook';
const SECRET = 'test-webhook-secret_0123456789';
const ALICE = 6_601;

describe('Telegram webhooks (channels.telegram.mode: webhook) through the real daemon', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  const daemons: Daemon[] = [];

  afterEach(async () => {
    for (const daemon of daemons.splice(0)) await daemon.dispose();
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  function config(mode: 'webhook' | 'polling' = 'webhook'): Record<string, unknown> {
    const base = fakesConfig({ llm, telegram });
    Object.assign((base.channels as { telegram: Record<string, unknown> }).telegram, { mode, webhook_url: PUBLIC_URL, webhook_secret: SECRET });
    return { ...base, server: { http_port: 0 } };
  }

  /** Starts the daemon and points the fake's "reverse proxy" at the port it got. */
  async function start(workspace?: string): Promise<Daemon> {
    const daemon = Daemon.spawn({ config: config(), ...(workspace ? { workspace } : {}) });
    daemons.push(daemon);
    const base = await httpBase(daemon);
    telegram.webhookSender.route = (url) => url.replace('https://bot.example.test', base);
    await daemon.ready();
    return daemon;
  }

  it('sets the webhook with its secret, answers through it, and refuses a request with a wrong secret (401)', async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    const daemon = await start();
    expect(telegram.webhook).toEqual({ url: PUBLIC_URL, secret: SECRET, allowedUpdates: ['message'] });
    expect(telegram.requests.some((r) => r.method === 'getUpdates')).toBe(false);

    telegram.userSays({ chatId: ALICE, text: 'over the webhook' });
    await waitFor(() => telegram.botMessages(ALICE).length === 1, 10_000, 'the reply');
    expect(telegram.botMessages(ALICE)[0]!.text).toBe('echo: over the webhook');

    const forged = { update_id: 1, message: { message_id: 99, date: 0, chat: { id: ALICE, type: 'private' }, from: { id: ALICE, is_bot: false, first_name: 'Eve' }, text: 'forged' } };
    const url = `${await httpBase(daemon)}/telegram/hook`;
    const attempts: Array<Record<string, string>> = [{}, { 'x-telegram-bot-api-secret-token': 'wrong' }, { 'x-telegram-bot-api-secret-token': `${SECRET}x` }];
    for (const headers of attempts) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(forged) });
      expect(res.status).toBe(401);
    }
    expect(llm.requests.some((r) => JSON.stringify(r.messages).includes('forged'))).toBe(false);
    await daemon.waitForLog('webhook request without the right secret token: refused (401)');
    expect(daemon.output).not.toContain(SECRET);
  });

  it('an update answered 200 survives a SIGKILL right after the 200 and is answered once; a redelivered update is answered once', async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    const first = await start();
    llm.setLatency(60_000); // the turn is still running when the daemon dies
    telegram.webhookSender.onAnswer = (delivery) => {
      if (delivery.status === 200) first.child.kill('SIGKILL');
    };
    const message = telegram.userSays({ chatId: ALICE, text: 'do not lose me' });
    await first.waitForExit();
    telegram.webhookSender.onAnswer = undefined;
    // Telegram got its 200 and forgot the update: only the journal still has it
    expect(telegram.webhookSender.deliveries.filter((d) => d.updateId > 0).map((d) => d.status)).toEqual([200]);
    expect(telegram.pendingUpdates).toEqual([]);
    llm.setLatency(0);

    const second = await start(first.workspace);
    await waitFor(() => telegram.botMessages(ALICE).length === 1, 10_000, 'the reply after the restart');
    expect(telegram.botMessages(ALICE)[0]!.text).toBe('echo: do not lose me');
    await second.waitForLog('reply delivered', (l) => l.eventId === `telegram:${ALICE}:${message.message_id}:reply`);

    // Telegram sends an update again when it did not see the 200 (a timeout, a lost answer)
    const again = telegram.userSays({ chatId: ALICE, text: 'sent twice' });
    await waitFor(() => telegram.botMessages(ALICE).length === 2, 10_000, 'the second reply');
    telegram.sendUpdate({ update_id: 777_000_001, message: { ...again } });
    await second.waitForLog('message seen before; not answered again', (l) => l.eventId === `telegram:${ALICE}:${again.message_id}`);
    expect(telegram.botMessages(ALICE)).toHaveLength(2);
    expect(llm.requests.filter((r) => r.messages.at(-1)?.content === 'sent twice')).toHaveLength(1);
  });

  it('/healthz says 503 while Telegram cannot deliver to the webhook (a broken proxy), and 200 once it can again', { timeout: 60_000 }, async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    const daemon = await start();
    const health = async () => (await fetch(`${await httpBase(daemon)}/healthz`)).status;
    expect(await health()).toBe(200);
    const route = telegram.webhookSender.route;
    telegram.webhookSender.route = undefined; // the proxy in front of the daemon is down
    telegram.userSays({ chatId: ALICE, text: 'while the proxy is down' });
    await waitFor(async () => (await health()) === 503, 30_000, '/healthz 503');
    const body = (await (await fetch(`${await httpBase(daemon)}/healthz`)).json()) as { problems: string[] };
    expect(body.problems).toEqual([expect.stringMatching(/^telegram is reconnecting: Telegram cannot deliver to webhook_url \(Connection refused\); 1 update\(s\) waiting$/)]);
    telegram.webhookSender.route = route;
    await waitFor(() => telegram.botMessages(ALICE).length === 1, 10_000, 'the update delivered and answered');
    await waitFor(async () => (await health()) === 200, 30_000, '/healthz 200 again');
    await daemon.waitForLog('telegram webhook reached again');
  });

  it('switching back to polling deletes the webhook, and messages come by getUpdates again', async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    const hooked = await start();
    expect(telegram.webhook?.url).toBe(PUBLIC_URL);
    await hooked.kill('SIGTERM');
    const polling = await Daemon.start({ config: config('polling'), workspace: hooked.workspace });
    daemons.push(polling);
    expect(telegram.webhook).toBeUndefined();
    expect(telegram.requests.filter((r) => r.method === 'deleteWebhook')).toHaveLength(1);
    telegram.userSays({ chatId: ALICE, text: 'polling again' });
    await waitFor(() => telegram.botMessages(ALICE).length === 1, 10_000, 'the reply by polling');
    expect(telegram.requests.some((r) => r.method === 'getUpdates')).toBe(true);
  });
});
