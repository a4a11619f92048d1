import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

const CHATS = [5101, 5102, 5103];
const LATE = 5104;
const WATCHDOG_LINE = 'heap above server.max_heap_mb: finishing replies in flight, then exiting for pm2 to restart the daemon';

/**
 * server.max_heap_mb: a daemon whose heap stays above it drains (takes no new message, lets the
 * turns in flight finish and deliver) and exits 75 for pm2 to restart it; nothing is lost.
 */
describe('memory watchdog, end to end against the fake Telegram and LLM', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  const daemons: Daemon[] = [];

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
  });

  afterAll(async () => {
    for (const daemon of daemons) await daemon.dispose();
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  it('drains and exits when the heap stays above the limit; replies in flight arrive, a message sent meanwhile is answered after the restart', { timeout: 90_000 }, async () => {
    const config = { ...fakesConfig({ llm, telegram }), server: { max_heap_mb: 200, drain_timeout_s: 30 } };
    // the test's own entry point: src/main.ts, plus a SIGUSR2 handler that keeps 256 MB more alive
    const first = Daemon.spawn({ config, entry: 'test/helpers/heap-ballast.ts' });
    daemons.push(first);
    await first.ready();
    llm.setLatency(12_000);
    for (const chatId of CHATS) telegram.userSays({ chatId, text: `slow question from ${chatId}` });
    await llm.waitForRequests(CHATS.length);
    first.child.kill('SIGUSR2');

    const line = await first.waitForLog(WATCHDOG_LINE, undefined, 20_000);
    expect(line['heapMb']).toBeGreaterThan(200);
    expect(line['limitMb']).toBe(200);
    // the replies were still in flight when the watchdog decided
    expect(CHATS.every((chatId) => telegram.botMessages(chatId).length === 0)).toBe(true);
    telegram.userSays({ chatId: LATE, text: 'written while it drains' });
    expect(await first.waitForExit(40_000)).toBe(75);
    for (const chatId of CHATS) expect(telegram.botMessages(chatId).map((m) => m.text)).toEqual([`echo: slow question from ${chatId}`]);
    expect(telegram.botMessages(LATE)).toEqual([]);
    expect(first.hasLog('stopped')).toBeDefined();

    // pm2 would start it again: the message that came during the drain is answered then, and nothing twice
    llm.setLatency(0);
    const second = Daemon.spawn({ config, workspace: first.workspace });
    daemons.push(second);
    await second.ready();
    await waitFor(() => telegram.botMessages(LATE)[0], 15_000, 'the reply to the message sent during the drain');
    expect(telegram.botMessages(LATE).map((m) => m.text)).toEqual(['echo: written while it drains']);
    for (const chatId of CHATS) expect(telegram.botMessages(chatId)).toHaveLength(1);
    expect(llm.requests.filter((r) => r.messages.at(-1)?.content === 'written while it drains')).toHaveLength(1);
  });
});
