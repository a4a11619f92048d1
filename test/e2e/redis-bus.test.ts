import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { shardOfGuild } from '../fakes/discord.ts';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { firings, remindOrEcho, waitChecked } from '../helpers/schedules.ts';
import { DiscordWorld } from './discord-setup.ts';
import { PROJECT_ROOT } from '../helpers/daemon.ts';
import { Deployment } from '../helpers/deployment.ts';
import { get, httpBase } from '../helpers/http.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait.ts';

/** One gateway and agents on a real redis-server: the fake Telegram sees every chat answered in order, once. */
describe('several processes on Redis Streams', () => {
  let redis: RedisServer;
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let deployment: Deployment;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  // fresh platform and LLM per test: what a test asserts reached them is its own
  beforeEach(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
  });
  afterEach(async () => {
    await deployment?.dispose();
    await Promise.all([telegram.close(), llm.close()]);
    await redis.command('FLUSHALL');
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  it('one gateway and 3 agents answer 200 messages from 40 chats: every chat in order, none lost, none twice', async () => {
    deployment = new Deployment(redis, () => fakesConfig({ llm, telegram }));
    await deployment.start('gateway');
    await Promise.all([deployment.start('agent'), deployment.start('agent'), deployment.start('agent')]);
    await partitionsSpread(3);
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

  /** Group messages, each from another member, so none merges into another's turn. */
  function say(chat: number, text: string, member = 0): void {
    telegram.userSays({ chatId: -1000 - chat, chatType: 'group', userId: 100 * chat + member, mention: true, text });
  }

  function repliesIn(chat: number): string[] {
    return telegram.botMessages(-1000 - chat).map((m) => m.text ?? '');
  }

  /** Waits until the agents share the partitions (each holds some): a newcomer gets its share from the others. */
  async function partitionsSpread(agents: number): Promise<void> {
    await waitFor(() => {
      const counts = deployment.of('agent').map((d) => d.lines.filter((l) => l.msg === 'streams changed').at(-1)?.streams as number | undefined);
      return counts.length === agents && counts.every((n) => n !== undefined && n >= Math.floor(32 / agents));
    }, 20_000, 'the partitions to spread over the agents');
  }

  it('SIGKILL of an agent mid-turn: its sessions are answered by another within claim_idle_ms and one turn', async () => {
    deployment = new Deployment(redis, () => fakesConfig({ llm, telegram }));
    await deployment.start('gateway');
    await Promise.all([deployment.start('agent'), deployment.start('agent'), deployment.start('agent')]);
    await partitionsSpread(3);
    llm.setLatency(1500);
    for (let chat = 1; chat <= 12; chat++) say(chat, `k${chat}`);
    const [victim] = deployment.of('agent');
    await waitFor(() => victim!.lines.some((l) => l.msg === 'turn started'), 10_000, 'the agent to start a turn');
    const orphaned = victim!.lines.filter((l) => l.msg === 'turn started').map((l) => l.sessionId as string);
    const killedAt = Date.now();
    await victim!.kill('SIGKILL');
    await waitFor(() => telegram.botMessages().length >= 12, 20_000, '12 replies');
    const elapsed = Date.now() - killedAt;
    // claim_idle_ms 2000 + a turn of 1500 ms, with room for a loaded machine
    expect(elapsed).toBeLessThan(2000 + 1500 + 4000);
    for (let chat = 1; chat <= 12; chat++) expect(repliesIn(chat)).toEqual([`echo: k${chat}`]);
    expect(orphaned.length).toBeGreaterThan(0);
    const survivors = deployment.of('agent');
    for (const sessionId of orphaned) {
      expect(survivors.some((d) => d.lines.some((l) => l.msg === 'turn started' && l.sessionId === sessionId))).toBe(true);
    }
    expect(deployment.lines().some((l) => l.msg === 'took over the stream of a process gone silent')).toBe(true);
  }, 90_000);

  it('SIGKILL of the gateway and a new start: nothing lost, nothing doubled', async () => {
    deployment = new Deployment(redis, () => fakesConfig({ llm, telegram }));
    const first = await deployment.start('gateway');
    await Promise.all([deployment.start('agent'), deployment.start('agent')]);
    llm.setLatency(1000);
    for (let chat = 1; chat <= 20; chat++) say(chat, `g${chat} a`);
    // every turn under way, no reply sent yet: the kill catches the replies on their way
    await waitFor(() => deployment.of('agent').flatMap((d) => d.lines).filter((l) => l.msg === 'turn started').length >= 20, 15_000, '20 turns started');
    expect(telegram.botMessages()).toHaveLength(0);
    await first.kill('SIGKILL');
    for (let chat = 1; chat <= 20; chat++) say(chat, `g${chat} b`, 1);
    await deployment.start('gateway');
    await waitFor(() => telegram.botMessages().length >= 40, 30_000, '40 replies');
    for (let chat = 1; chat <= 20; chat++) expect(repliesIn(chat)).toEqual([`echo: g${chat} a`, `echo: g${chat} b`]);
  }, 90_000);

  it('redis-server stopped for 5 s mid-load: the processes hold what is in flight and lose nothing', async () => {
    deployment = new Deployment(redis, () => ({ ...fakesConfig({ llm, telegram }), server: { http_port: 0 } }));
    const health = `${await httpBase(await deployment.start('gateway'))}/healthz`;
    await Promise.all([deployment.start('agent'), deployment.start('agent')]);
    llm.setLatency(300);
    for (let chat = 1; chat <= 20; chat++) say(chat, `r${chat} a`);
    await waitFor(() => telegram.botMessages().length >= 5, 15_000, 'the first replies');
    await redis.stop();
    for (let chat = 1; chat <= 20; chat++) say(chat, `r${chat} b`, 1);
    // /healthz says so while it lasts
    const down = await waitFor(async () => {
      const reply = await get(health);
      return reply.status === 503 && reply.text;
    }, 4000, '/healthz to report Redis');
    expect(JSON.parse(down).problems).toContain('Redis (bus.redis_url) is unreachable: events wait until it is back');
    // the outage itself: five seconds of Redis away, as the issue asks
    await new Promise((resolve) => setTimeout(resolve, 5000));
    await redis.start();
    await waitFor(() => telegram.botMessages().length >= 40, 30_000, '40 replies');
    for (let chat = 1; chat <= 20; chat++) expect(repliesIn(chat)).toEqual([`echo: r${chat} a`, `echo: r${chat} b`]);
    expect((await get(health)).status).toBe(200);
    // each process says it once, not once per connection or retry, and says when it is over
    for (const { daemon } of deployment.processes) {
      expect(daemon.lines.filter((l) => l.msg === 'Redis is unreachable: holding what is in flight and retrying')).toHaveLength(1);
      expect(daemon.lines.filter((l) => l.msg === 'Redis is back')).toHaveLength(1);
    }
  }, 90_000);

  it('an agent process reads a file a user sent, from the platform, with no poller of its own', async () => {
    deployment = new Deployment(redis, () => fakesConfig({ llm, telegram }));
    await deployment.start('gateway');
    await deployment.start('agent');
    telegram.userSays({ chatId: 77, userId: 77, caption: 'summarise my notes', document: { name: 'notes.md', mime: 'text/markdown', data: Buffer.from('# Shopping\n\n- oat milk\n') } });
    await waitFor(() => telegram.botMessages(77).length >= 1, 15_000, 'the reply');
    expect(JSON.stringify(llm.requests.at(-1)!.messages)).toContain('- oat milk');
    // only the gateway polls
    expect(deployment.of('agent')[0]!.lines.some((l) => l.mod === 'telegram' && l.msg === 'message received')).toBe(false);
  }, 60_000);

  it('npm run status shows every process of the deployment from Redis, and one that stopped as gone', async () => {
    deployment = new Deployment(redis, () => fakesConfig({ llm, telegram }));
    const gateway = await deployment.start('gateway');
    const [first, second] = await Promise.all([deployment.start('agent'), deployment.start('agent')]);
    const status = () => spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'status', '--workspace', deployment.workspace], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    const report = await waitFor(() => {
      const result = status();
      // the second agent's share comes from the first within a few heartbeats
      return result.status === 0 && result.stdout.includes('3 process(es) alive') && (result.stdout.match(/streams 16/g) ?? []).length === 2 && result.stdout;
    }, 15_000, 'a status with the 3 processes, the partitions shared');
    for (const daemon of [gateway, first!, second!]) expect(report).toMatch(new RegExp(`(gateway|agent) +pid ${daemon.child.pid} on \\S+: alive, last heartbeat [\\d.]+s ago, sessions in flight \\d+`));
    expect(report).toContain('telegram: connected');
    // a graceful stop leaves the deployment at once; its partitions go to the other agent
    await second!.kill('SIGTERM');
    const after = await waitFor(() => {
      const result = status();
      return result.stdout.includes('2 process(es) alive') && /agent +pid \d+.*streams 32/.test(result.stdout) && result.stdout;
    }, 15_000, 'a status without the stopped agent');
    expect(after).not.toContain(`pid ${second!.child.pid} `);
  }, 60_000);

  it('typing and drafts cross from the agent to the gateway: the reply shows while it is written, then is edited to the answer', async () => {
    deployment = new Deployment(redis, () => fakesConfig({ llm, telegram }));
    await deployment.start('gateway');
    await deployment.start('agent');
    const answer = Array.from({ length: 10 }, (_, i) => `Sentence number ${i} of the answer says something plain and useful.`).join(' ');
    llm.setResponder(() => ({ content: answer, pieces: 30, pieceDelayMs: 100 }));
    const asked = telegram.userSays({ chatId: 88, userId: 88, text: 'tell me slowly' });
    await waitFor(() => deployment.lines().some((l) => l.msg === 'reply delivered' && l.eventId === `telegram:88:${asked.message_id}:reply`), 20_000, 'the reply delivered');
    expect(telegram.botMessages(88).map((m) => m.text)).toEqual([answer]);
    const edits = telegram.edits.filter((e) => e.chatId === 88);
    // a draft went up while the model wrote, and was edited in place to the answer
    expect(edits.length).toBeGreaterThanOrEqual(1);
    expect(edits.at(-1)!.text).toBe(answer);
    expect(telegram.chatActions.filter((a) => a.chatId === 88).length).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('a gateway with two Discord shards: a mention in each shard\'s guild is answered through the agents', async () => {
    const world = await DiscordWorld.start({ recommendedShards: 2, maxConcurrency: 2 });
    try {
      const first = { guildId: world.discord.guildId, textChannelId: world.discord.textChannelId };
      const second = world.discord.addGuild({ name: 'Second', onShard: [1 - shardOfGuild(first.guildId, 2), 2] });
      deployment = new Deployment(redis, () => world.config({ shards: 2 }));
      await deployment.start('gateway');
      await Promise.all([deployment.start('agent'), deployment.start('agent')]);
      expect(world.discord.gateway.identifies.map((identify) => identify.shard).sort()).toEqual([[0, 2], [1, 2]]);
      for (const guild of [first, second]) {
        const message = world.discord.userSays({ channelId: guild.textChannelId, content: `hello guild ${guild.guildId}`, mentionBot: true });
        expect((await world.replyTo(message, 15_000)).content).toBe(`echo: hello guild ${guild.guildId}`);
        expect(world.discord.gateway.shardsSent('MESSAGE_CREATE', message.id)).toEqual([shardOfGuild(guild.guildId, 2)]);
      }
    } finally {
      await deployment.dispose();
      await world.close();
    }
  }, 60_000);

  it('a reminder an agent process schedules fires in the gateway at its due time, once, and an agent answers it', async () => {
    const t0 = Date.UTC(2030, 0, 7, 8, 0, 0);
    const clock = new FakeClock(t0);
    try {
      llm.setResponder(remindOrEcho);
      llm.enqueue({ toolCalls: [{ id: 'remind-1', name: 'schedule_create', arguments: JSON.stringify({ at: 'in 2 minutes', instruction: 'Remind them to stretch.' }) }] }, { content: 'I will remind you in 2 minutes.' });
      deployment = new Deployment(redis, () => ({ ...fakesConfig({ llm, telegram }), agent: { timezone: 'UTC' } }));
      const gateway = await deployment.start('gateway', clock.daemonOptions());
      await Promise.all([deployment.start('agent', clock.daemonOptions()), deployment.start('agent', clock.daemonOptions())]);
      telegram.userSays({ chatId: 99, userId: 99, text: 'remind me in 2 minutes to stretch' });
      await waitFor(() => telegram.botMessages(99).length >= 1, 15_000, 'the answer');
      const created = deployment.lines().find((l) => l.msg === 'scheduled job created')!;
      expect(deployment.of('agent').some((d) => d.lines.includes(created))).toBe(true);
      const due = t0 + 2 * 60_000;
      clock.set(due - 20_000);
      await waitChecked(gateway, due - 20_000);
      expect(telegram.botMessages(99)).toHaveLength(1);
      clock.set(due + 500);
      await waitFor(() => telegram.botMessages(99).length >= 2, 15_000, 'the reminder');
      expect(telegram.botMessages(99)[1]!.text).toBe('Reminder: Remind them to stretch.');
      expect(firings(gateway, String(created.jobId))).toHaveLength(1);
      clock.set(due + 10 * 60_000);
      await waitChecked(gateway, due + 10 * 60_000);
      expect(telegram.botMessages(99)).toHaveLength(2);
    } finally {
      await deployment.dispose();
      clock.dispose();
    }
  }, 60_000);
});
