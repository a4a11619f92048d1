import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { OPEN_ACCESS } from '../helpers/config.ts';
import { PROJECT_ROOT } from '../helpers/daemon.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { pm2In } from '../helpers/pm2.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The deployment the README's "Run on several processes" describes: the commented gateway and
 * agents of ecosystem.config.cjs, uncommented as a user would (in place of the single app), run
 * by pm2 against a real redis-server.
 */
function deploymentEcosystem(): string {
  const source = readFileSync(join(PROJECT_ROOT, 'ecosystem.config.cjs'), 'utf8');
  const block = source.slice(source.indexOf('// --- several processes: begin ---'), source.indexOf('// --- several processes: end ---')).split('\n').slice(1);
  const apps = block.map((line) => line.replace(/^(\s*)\/\/ /, '$1')).join('\n');
  return `const path = require('node:path');\nconst root = ${JSON.stringify(PROJECT_ROOT)};\nmodule.exports = { apps: [\n${apps.replaceAll('__dirname', 'root')}\n] };\n`;
}

describe('pm2: the deployment of ecosystem.config.cjs, one gateway and 3 agents on Redis', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let redis: RedisServer;
  let home: string;
  let workspace: string;
  let ecosystem: string;
  const { pm2, processes } = pm2In(() => ({ home, workspace }));

  beforeAll(async () => {
    [telegram, llm, redis] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start(), RedisServer.start()]);
    home = mkdtempSync(join(tmpdir(), 'mybot-pm2-home-'));
    workspace = mkdtempSync(join(tmpdir(), 'mybot-pm2-ws-'));
    ecosystem = join(home, 'deployment.config.cjs');
    writeFileSync(ecosystem, deploymentEcosystem());
    writeFileSync(
      join(workspace, 'config.user.yaml'),
      stringify({
        llm: { api_base: llm.url, model: 'fake', max_retries: 0 },
        channels: { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot, ...OPEN_ACCESS } },
        bus: { backend: 'redis', redis_url: redis.url, claim_idle_ms: 2000 },
        server: { drain_timeout_s: 10 },
      }),
    );
  });

  afterAll(async () => {
    await pm2('kill').catch(() => undefined);
    await Promise.all([telegram?.close(), llm?.close(), redis?.dispose()]);
    rmSync(home, { recursive: true, force: true });
    rmSync(workspace, { recursive: true, force: true });
  });

  it('starts online, answers, survives a restart of the agents with replies in flight, stops with exit code 0', async () => {
    await pm2('start', ecosystem);
    const started = await processes();
    expect(started.map((p) => `${p.name}:${p.pm2_env.status}`).sort()).toEqual(['mybot-agent:online', 'mybot-agent:online', 'mybot-agent:online', 'mybot-gateway:online']);

    const chats = Array.from({ length: 12 }, (_, i) => -5000 - i);
    llm.setLatency(1000);
    for (const chatId of chats) telegram.userSays({ chatId, chatType: 'group', userId: -chatId, mention: true, text: `in flight ${chatId}` });
    await llm.waitForRequests(6, 15_000);
    // pm2 restarts the agents one after the other: what each had in flight goes to the others or comes back
    await pm2('restart', 'mybot-agent');
    const restarted = await processes();
    expect(restarted.filter((p) => p.name === 'mybot-agent').every((p) => p.pm2_env.status === 'online' && p.pm2_env.restart_time === 1)).toBe(true);
    await waitFor(() => chats.every((chatId) => telegram.botMessages(chatId).length >= 1), 45_000, 'all 12 replies');
    for (const chatId of chats) expect(telegram.botMessages(chatId).map((m) => m.text?.replace(/^echo: @\w+ /, 'echo: '))).toEqual([`echo: in flight ${chatId}`]);

    await pm2('stop', 'all');
    const stopped = await processes();
    expect(stopped.every((p) => p.pm2_env.status === 'stopped')).toBe(true);
    expect(readFileSync(join(home, 'pm2.log'), 'utf8').match(/App \[mybot-(gateway|agent):\d\] exited with code \[0\]/g)?.length).toBeGreaterThanOrEqual(4);
  }, 150_000);
});
