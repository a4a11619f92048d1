import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Deployment } from '../helpers/deployment.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait.ts';

/** One gateway and agents on a real redis-server: the fake Telegram sees every chat answered in order, once. */
describe('several processes on Redis Streams', () => {
  let redis: RedisServer;
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let deployment: Deployment;

  beforeAll(async () => {
    [redis, telegram, llm] = await Promise.all([RedisServer.start(), FakeTelegram.start(), FakeOpenAI.start()]);
  });
  afterEach(async () => {
    await deployment?.dispose();
    await redis.command('FLUSHALL');
  });
  afterAll(async () => {
    await Promise.all([redis?.dispose(), telegram?.close(), llm?.close()]);
  });

  it('one gateway and 3 agents answer 200 messages from 40 chats: every chat in order, none lost, none twice', async () => {
    deployment = new Deployment(redis, () => fakesConfig({ llm, telegram }));
    await deployment.start('gateway');
    await Promise.all([deployment.start('agent'), deployment.start('agent'), deployment.start('agent')]);
    // groups, each message from another member: five turns per chat (one sender's quick messages would merge into one)
    for (let i = 0; i < 5; i++) {
      for (let chat = 1; chat <= 40; chat++) telegram.userSays({ chatId: -1000 - chat, chatType: 'group', userId: 100 * chat + i, mention: true, text: `c${chat} m${i}` });
    }
    await waitFor(() => telegram.botMessages().length >= 200, 20_000, '200 replies').catch((err: Error) => {
      throw new Error(`${err.message}; ${telegram.botMessages().length} arrived; problems logged:\n${deployment.problems().slice(0, 20).join('\n')}\n${deployment.processes.map((p) => p.role + ': ' + p.daemon.lines.filter((l) => JSON.stringify(l).includes('telegram:-1001')).slice(-6).map((l) => JSON.stringify(l).slice(0, 300)).join('\n')).join('\n')}`);
    });
    for (let chat = 1; chat <= 40; chat++) {
      const texts = telegram.botMessages(-1000 - chat).map((m) => m.text);
      expect(texts.map((text) => /m(\d)$/.exec(text ?? '')?.[1]), texts.join(' | ')).toEqual(['0', '1', '2', '3', '4']);
    }
    expect(telegram.botMessages()).toHaveLength(200);
    // the work was spread: every agent answered some
    const answeredBy = deployment.of('agent').map((agent) => agent.lines.filter((l) => l.msg === 'turn started').length);
    expect(answeredBy.every((n) => n > 0), `turns per agent: ${answeredBy.join(', ')}`).toBe(true);
  }, 120_000);
});
