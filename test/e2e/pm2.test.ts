import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { OPEN_ACCESS } from '../helpers/config.ts';
import { pm2In } from '../helpers/pm2.ts';
import { waitFor } from '../helpers/wait.ts';

const CHATS = Array.from({ length: 20 }, (_, i) => 3000 + i);

/**
 * The ecosystem file as users run it: pm2 (a devDependency) with its own PM2_HOME in a temp
 * folder, so no user's pm2 is touched, and MYBOT_WORKSPACE from the environment of `pm2 start`.
 */
describe('pm2: ecosystem.config.cjs starts, restarts and stops the daemon without losing a reply', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let home: string;
  let workspace: string;
  const { pm2, processes } = pm2In(() => ({ home, workspace }));

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    home = mkdtempSync(join(tmpdir(), 'mybot-pm2-home-'));
    workspace = mkdtempSync(join(tmpdir(), 'mybot-pm2-ws-'));
    writeFileSync(join(workspace, 'config.user.yaml'), stringify({
      llm: { api_base: llm.url, model: 'fake', max_retries: 0 },
      channels: { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot, ...OPEN_ACCESS } },
      server: { drain_timeout_s: 10 },
    }));
  });

  afterAll(async () => {
    await pm2('kill').catch(() => undefined);
    await Promise.all([telegram?.close(), llm?.close()]);
    rmSync(home, { recursive: true, force: true });
    rmSync(workspace, { recursive: true, force: true });
  });

  it('starts online and ready on MYBOT_WORKSPACE, replies, survives a restart with 20 replies in flight, stops with exit code 0', async () => {
    await pm2('start', 'ecosystem.config.cjs');
    const [started] = await processes();
    expect(started).toMatchObject({ name: 'mybot', pm2_env: { status: 'online' } });
    // wait_ready: pm2 start returned only after the daemon said it was ready, on the workspace we gave
    expect(readFileSync(join(workspace, '.mybot', 'daemon.pid'), 'utf8')).toBe(String(started!.pid));

    telegram.userSays({ chatId: 2999, text: 'hello pm2' });
    await waitFor(() => telegram.botMessages(2999).length === 1, 15_000, 'the first reply');

    llm.setLatency(1500);
    for (const chatId of CHATS) telegram.userSays({ chatId, text: `in flight ${chatId}` });
    await llm.waitForRequests(1 + 10, 15_000);
    await pm2('restart', 'mybot');
    const [restarted] = await processes();
    expect(restarted!.pid).not.toBe(started!.pid);
    expect(restarted!.pm2_env.restart_time).toBe(1);

    await waitFor(() => CHATS.every((chatId) => telegram.botMessages(chatId).length >= 1), 30_000, 'all 20 replies');
    for (const chatId of CHATS) expect(telegram.botMessages(chatId).map((m) => m.text)).toEqual([`echo: in flight ${chatId}`]);

    llm.setLatency(0);
    const stopStarted = Date.now();
    await pm2('stop', 'mybot');
    expect(Date.now() - stopStarted).toBeLessThan(30_000);
    const [stopped] = await processes();
    expect(stopped!.pm2_env.status).toBe('stopped');
    expect(readFileSync(join(home, 'pm2.log'), 'utf8')).toMatch(/App \[mybot:0\] exited with code \[0\]/);
  }, 120_000);
});
