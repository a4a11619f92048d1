import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram, type FakeMessage } from '../fakes/telegram.ts';
import { OPEN_ACCESS } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

describe('Telegram channel across crashes, restarts and outages', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  const daemons: Daemon[] = [];

  const config = (token = telegram.token) => ({
    llm: { api_base: llm.url, model: 'fake', max_retries: 0 },
    channels: { telegram: { enabled: true, bot_token: token, api_root: telegram.apiRoot, ...OPEN_ACCESS } },
  });
  const start = async (workspace?: string): Promise<Daemon> => {
    const daemon = await Daemon.start({ config: config(), ...(workspace ? { workspace } : {}) });
    daemons.push(daemon);
    // a long poll is held: the next getUpdates call is the one that confirms what it returns
    await waitFor(() => telegram.heldPolls > 0, 5_000, 'a held getUpdates');
    return daemon;
  };
  const replies = (chatId: number): FakeMessage[] => telegram.botMessages(chatId);
  const waitForReplies = (chatId: number, n: number, timeoutMs = 10_000): Promise<FakeMessage[]> =>
    waitFor(() => replies(chatId).length >= n && replies(chatId), timeoutMs, `${n} bot message(s) in chat ${chatId}`);
  const asked = (content: string) => llm.requests.filter((r) => r.messages.at(-1)?.content === content).length;

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
  });

  afterAll(async () => {
    for (const daemon of daemons) await daemon.kill();
    for (const workspace of new Set(daemons.map((d) => d.workspace))) rmSync(workspace, { recursive: true, force: true });
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  it('answers once an update fetched just before a SIGKILL, and never answers old updates after a restart', async () => {
    const chatId = 2001;
    const first = await start();
    llm.setLatency(60_000); // the turn is still running when the daemon dies
    telegram.failNext('getUpdates', 1, { kind: '500' }); // and the call that would confirm the update fails
    const message = telegram.userSays({ chatId, text: 'survive this' });
    await waitFor(() => asked('survive this') === 1, 5_000, 'the LLM call for the update');
    await waitFor(() => telegram.requests.some((r) => r.method === 'getUpdates' && r.status === 500), 5_000, 'the failed confirmation');
    await first.kill('SIGKILL');
    llm.setLatency(0);
    expect(telegram.pendingUpdates.map((u) => u.message?.message_id)).toContain(message.message_id); // Telegram will send it again

    const second = await start(first.workspace);
    const [reply] = await waitForReplies(chatId, 1);
    expect(reply!.text).toBe('echo: survive this');
    await second.waitForLog('message seen before; not answered again', (l) => l.eventId === `telegram:${chatId}:${message.message_id}`);
    telegram.userSays({ chatId, text: 'probe 1' });
    await waitForReplies(chatId, 2);

    expect(await second.kill('SIGTERM')).toBe(0);
    const third = await start(first.workspace);
    telegram.userSays({ chatId, text: 'probe 2' });
    await waitForReplies(chatId, 3);
    expect(replies(chatId).map((m) => m.text)).toEqual(['echo: survive this', 'echo: probe 1', 'echo: probe 2']);
    expect([asked('survive this'), asked('probe 1'), asked('probe 2')]).toEqual([2, 1, 1]); // the first call died with the daemon
    expect(telegram.pendingUpdates).toEqual([]);
    await third.kill('SIGKILL');
  });

  it('logs a network outage and a 409 conflict clearly, and keeps polling', async () => {
    const chatId = 2002;
    const daemon = await start();
    telegram.failNext('getUpdates', 1, { kind: 'drop' });
    telegram.userSays({ chatId, text: 'before the outage' });
    await daemon.waitForLog(/cannot reach the Telegram Bot API/);
    telegram.userSays({ chatId, text: 'during the outage' });
    await waitForReplies(chatId, 2, 15_000);
    await daemon.waitForLog('telegram polling works again');

    await waitFor(() => telegram.heldPolls > 0, 5_000, 'a held getUpdates');
    telegram.failNext('getUpdates', 1, { kind: 'conflict' });
    telegram.userSays({ chatId, text: 'before the conflict' });
    await daemon.waitForLog(/409 Conflict/);
    await daemon.waitForLog('worker restarted', (l) => l.worker === 'telegram', 15_000);
    telegram.userSays({ chatId, text: 'after the conflict' });
    await waitForReplies(chatId, 4);
    expect(replies(chatId).map((m) => m.text)).toEqual(['echo: before the outage', 'echo: during the outage', 'echo: before the conflict', 'echo: after the conflict']);
    expect(daemon.exitCode).toBeUndefined();
    await daemon.kill('SIGKILL');
  });

  it('exits at start-up with one line naming the setting when the token is wrong', async () => {
    const wrong = '123456:this-token-is-wrong';
    const daemon = Daemon.spawn({ config: config(wrong) });
    daemons.push(daemon);
    expect(await daemon.waitForExit()).toBe(1);
    const plain = daemon.output.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
    expect(plain).toHaveLength(1);
    expect(plain[0]).toMatch(/^mybot: Telegram rejected the bot token \(401 .*check channels\.telegram\.bot_token .*TELEGRAM_BOT_TOKEN/);
    expect(daemon.output).not.toContain(wrong);
  });

  it('never writes the bot token to its output', () => {
    expect(daemons.length).toBeGreaterThan(3);
    for (const daemon of daemons) expect(daemon.output).not.toContain(telegram.token);
  });
});
