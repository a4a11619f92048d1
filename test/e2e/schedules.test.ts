import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram, type FakeMessage } from '../fakes/telegram.ts';
import { OPEN_ACCESS } from '../helpers/config.ts';
import { Daemon, PROJECT_ROOT } from '../helpers/daemon.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { firings, remindOrEcho, SCHEDULED_MARK, lastUserText, statusOf, waitChecked } from '../helpers/schedules.ts';
import { waitFor } from '../helpers/wait.ts';

/** Monday 2030-01-07, 08:00 UTC: the daemon's fake time at its start. */
const T0 = Date.UTC(2030, 0, 7, 8, 0, 0);
const MINUTE = 60_000;
const OWNER = 4100;
const CHATS = { remind: 4001, cron: 4002, limits: 4003, other: 4004 };

describe('schedules, end to end: the real daemon on a fake clock, against the fake Telegram and LLM', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let clock: FakeClock;
  let daemon: Daemon;

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    llm.setResponder(remindOrEcho);
    clock = new FakeClock(T0);
    daemon = await Daemon.start({
      config: {
        llm: { api_base: llm.url, model: 'fake', max_retries: 0 },
        agent: { debounce_ms: 0, timezone: 'UTC' },
        channels: { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot, ...OPEN_ACCESS, owner_user_ids: [OWNER] } },
        schedules: { max_per_chat: 2 },
      },
      ...clock.daemonOptions(),
    });
  });

  afterAll(async () => {
    await daemon?.dispose();
    clock?.dispose();
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  const replies = (chatId: number): FakeMessage[] => telegram.botMessages(chatId);
  const waitForReplies = (chatId: number, n: number): Promise<FakeMessage[]> => waitFor(() => replies(chatId).length >= n && replies(chatId), 15_000, `${n} bot message(s) in chat ${chatId}`);
  const say = async (chatId: number, text: string): Promise<string> => {
    const before = replies(chatId).length;
    telegram.userSays({ chatId, text });
    return (await waitForReplies(chatId, before + 1))[before]!.text ?? '';
  };
  const toolResults = (callId: string) => llm.requests.flatMap((r) => r.messages).filter((m) => m.role === 'tool' && m.tool_call_id === callId).map((m) => String(m.content));
  const storedJob = (id: string) => JSON.parse(readFileSync(join(daemon.workspace, '.mybot', 'schedules.json'), 'utf8')).jobs.find((j: { id: string }) => j.id === id);
  const createdJob = async (sessionId: string, n = 1) => {
    const lines = await waitFor(() => {
      const found = daemon.lines.filter((l) => l.msg === 'scheduled job created' && l.sessionId === sessionId);
      return found.length >= n && found;
    }, 10_000, `${n} job(s) created in ${sessionId}`);
    return lines[n - 1]!;
  };
  /** Moves the clock and waits until the daemon's scheduler has seen the new time (the daemon reads the clock file every 20 ms). */
  const moveClock = async (at: number) => {
    clock.set(at);
    await waitChecked(daemon, at);
  };
  const justBefore = (at: number) => moveClock(at - 20_000);

  it('"remind me in 2 minutes": schedule_create through the fake LLM, then the reminder arrives once, at its due time', async () => {
    llm.enqueue({ toolCalls: [{ id: 'remind-1', name: 'schedule_create', arguments: JSON.stringify({ at: 'in 2 minutes', instruction: 'Remind them to stretch.' }) }] }, { content: 'I will remind you in 2 minutes.' });
    expect(await say(CHATS.remind, 'remind me in 2 minutes to stretch')).toBe('I will remind you in 2 minutes.');
    const created = await createdJob(`telegram:${CHATS.remind}`);
    const due = storedJob(String(created.jobId)).at as number;
    // "in 2 minutes" is resolved when the job is made, on the daemon's (fake) clock
    expect(due - Number(created.time)).toBeGreaterThanOrEqual(2 * MINUTE - 1_000);
    expect(due - Number(created.time)).toBeLessThanOrEqual(2 * MINUTE);
    expect(toolResults('remind-1')[0]).toMatch(new RegExp(`^Scheduled ${created.jobId}: once at Mon 2030-01-07 08:0\\d \\(UTC\\), in telegram:${CHATS.remind}\\. It is now Mon 2030-01-07 08:0\\d`));

    await justBefore(due);
    expect(replies(CHATS.remind)).toHaveLength(1);

    clock.set(due + 500);
    const [, reminder] = await waitForReplies(CHATS.remind, 2);
    expect(reminder!.text).toBe('Reminder: Remind them to stretch.');
    const [fired] = firings(daemon, String(created.jobId));
    expect(fired).toMatchObject({ dueAt: new Date(due).toISOString(), eventId: `schedule:${created.jobId}:${new Date(due).toISOString()}` });
    expect(Number(fired!.time)).toBeGreaterThanOrEqual(due);
    const asked = llm.requests.filter((r) => lastUserText(r).startsWith(SCHEDULED_MARK));
    expect(asked).toHaveLength(1);
    expect(lastUserText(asked[0]!)).toContain('due Mon 2030-01-07 08:0');
    // the turn ran in the chat's session, with its history
    expect(asked[0]!.messages.some((m) => m.role === 'user' && m.content === 'remind me in 2 minutes to stretch')).toBe(true);

    // ten minutes later: still one reminder, and the one-off job is gone
    await moveClock(clock.now() + 10 * MINUTE);
    expect(replies(CHATS.remind)).toHaveLength(2);
    expect(firings(daemon, String(created.jobId))).toHaveLength(1);
    expect(storedJob(String(created.jobId))).toBeUndefined();
    // the scheduled turn counted toward the user's and the chat's usage, as a message does
    expect(await say(CHATS.remind, "/usage")).toMatch(/you: 2 messages/);
  });

  it('a cron job fires at three consecutive due times, exactly once each', async () => {
    // a minute past a five-minute mark, so the next due time is four minutes away
    await moveClock(Math.ceil(clock.now() / (5 * MINUTE)) * 5 * MINUTE + MINUTE);
    llm.enqueue({ toolCalls: [{ id: 'cron-1', name: 'schedule_create', arguments: JSON.stringify({ cron: '*/5 * * * *', instruction: 'Say tick.' }) }] }, { content: 'Every five minutes, then.' });
    await say(CHATS.cron, 'say tick every five minutes');
    const jobId = String((await createdJob(`telegram:${CHATS.cron}`)).jobId);
    const first = Math.ceil(clock.now() / (5 * MINUTE)) * 5 * MINUTE;
    const dues = [first, first + 5 * MINUTE, first + 10 * MINUTE];
    for (const [k, due] of dues.entries()) {
      await justBefore(due);
      expect(replies(CHATS.cron).map((m) => m.text)).toHaveLength(1 + k);
      clock.set(due + 1_000);
      const shown = await waitForReplies(CHATS.cron, 2 + k);
      expect(shown[1 + k]!.text).toBe('Reminder: Say tick.');
    }
    await justBefore(dues[2]! + 5 * MINUTE);
    expect(replies(CHATS.cron)).toHaveLength(4);
    expect(firings(daemon, jobId).map((l) => l.dueAt)).toEqual(dues.map((d) => new Date(d).toISOString()));
    expect(storedJob(jobId)).toMatchObject({ cron: '*/5 * * * *', lastDue: dues[2] });
  });

  it('limits: at most every 5 minutes and schedules.max_per_chat, another chat for owners only; /schedules lists and deletes', async () => {
    const create = (id: string, args: Record<string, string>) => ({ id, name: 'schedule_create', arguments: JSON.stringify({ instruction: `job ${id}`, ...args }) });
    llm.enqueue(
      {
        toolCalls: [
          create('l1', { at: 'in 1 hour' }),
          create('l2', { cron: '* * * * *' }),
          create('l3', { at: 'in 2 hours' }),
          create('l4', { at: 'in 3 hours' }),
          create('l5', { at: 'in 1 hour', chat: `telegram:${CHATS.other}` }),
        ],
      },
      { content: 'Some of them.' },
    );
    await say(CHATS.limits, 'schedule all of these');
    expect(toolResults('l1')[0]).toMatch(/^Scheduled \w+: once at/);
    expect(toolResults('l2')[0]).toBe("Error: '* * * * *' runs more often than every 5 minutes, the most a job may");
    expect(toolResults('l3')[0]).toMatch(/^Scheduled \w+: once at/);
    expect(toolResults('l4')[0]).toBe('Error: this chat already has 2 scheduled jobs (schedules.max_per_chat): delete one first');
    expect(toolResults('l5')[0]).toMatch(/^Error: only an owner may schedule a job in another chat/);

    const listing = await say(CHATS.limits, '/schedules');
    const ids = [...listing.matchAll(/^• (\w+): once at/gm)].map((m) => m[1]!);
    expect(ids).toHaveLength(2);
    expect(listing).toContain('job l1');
    // another user's chat sees none of them and cannot delete them
    expect(await say(CHATS.other, '/schedules')).toContain('No scheduled jobs here.');
    expect(await say(CHATS.other, `/schedules delete ${ids[0]}`)).toBe(`Could not delete it: there is no job '${ids[0]}' in this chat: /schedules lists them.`);
    expect(await say(CHATS.limits, `/schedules delete ${ids[0]}`)).toBe(`Deleted ${ids[0]}.`);
    expect((await say(CHATS.limits, '/schedules')).match(/^• /gm)).toHaveLength(1);

    // an owner may schedule in another chat, and sees every chat's jobs in their private chat
    llm.enqueue({ toolCalls: [create('o1', { at: 'in 5 minutes', chat: `telegram:${CHATS.other}` })] }, { content: 'Done.' });
    await say(OWNER, 'remind the other chat in 5 minutes');
    expect(toolResults('o1')[0]).toMatch(new RegExp(`^Scheduled (\\w+): once at .*, in telegram:${CHATS.other}\\.`));
    const ownerJob = /^Scheduled (\w+)/.exec(toolResults('o1')[0]!)![1]!;
    const everything = await say(OWNER, '/schedules');
    expect(everything).toContain(ownerJob);
    expect(everything).toContain(ids[1]);
    clock.set(storedJob(ownerJob).at + 1_000);
    await waitFor(() => replies(CHATS.other).some((m) => m.text === `Reminder: job o1`), 15_000, "the owner's job to fire in the other chat");
    expect(replies(OWNER).some((m) => m.text?.startsWith('Reminder:'))).toBe(false);
  });

  it('a schedules/ file is hot-reloaded: a new job fires, an edit applies from the next due time, enabled: false stops it, a malformed one is reported', async () => {
    const chatId = 4005;
    // Telegram lets a bot write only in a chat that wrote to it first
    await say(chatId, 'hi');
    const dir = join(daemon.workspace, 'schedules');
    mkdirSync(dir, { recursive: true });
    const write = (front: string, task: string) => writeFileSync(join(dir, 'standup.md'), `---\n${front}\nchat: telegram:${chatId}\n---\n${task}\n`);
    const listed = (what: string | undefined) =>
      waitFor(() => {
        const job = statusOf(daemon)?.schedules?.next.find((n) => n.job === 'file:standup');
        return (what === undefined ? !job : job?.what === what) && true;
      }, 10_000, `the status to list file:standup as ${what ?? 'gone'}`);

    await moveClock(Math.ceil(clock.now() / (5 * MINUTE)) * 5 * MINUTE + MINUTE);
    write('cron: "*/5 * * * *"', 'Ask what they plan today.');
    await listed('Ask what they plan today.');
    const first = Math.ceil(clock.now() / (5 * MINUTE)) * 5 * MINUTE;
    clock.set(first + 1_000);
    expect((await waitForReplies(chatId, 2))[1]!.text).toBe('Reminder: Ask what they plan today.');

    write('cron: "*/5 * * * *"', 'Ask about lunch.');
    await listed('Ask about lunch.');
    clock.set(first + 5 * MINUTE + 1_000);
    expect((await waitForReplies(chatId, 3))[2]!.text).toBe('Reminder: Ask about lunch.');

    write('cron: "*/5 * * * *"\nenabled: false', 'Ask about lunch.');
    await listed(undefined);
    await moveClock(first + 10 * MINUTE + 30_000);
    expect(replies(chatId)).toHaveLength(3);
    expect(firings(daemon, 'file:standup').map((l) => l.dueAt)).toEqual([first, first + 5 * MINUTE].map((d) => new Date(d).toISOString()));

    writeFileSync(join(dir, 'broken.md'), `---\ncron: "61 * * * *"\nchat: telegram:${chatId}\n---\nNever.\n`);
    const warning = await daemon.waitForLog('schedule skipped: its broken.md is malformed; fix it and save it again', (l) => l.file === join(dir, 'broken.md'));
    expect(warning.reason).toMatch(/'61 \* \* \* \*' is not a valid cron expression/);
    rmSync(join(dir, 'standup.md'));
    rmSync(join(dir, 'broken.md'));
  });

  it('npm run status lists the next due jobs', async () => {
    const next = await waitFor(() => {
      const jobs = statusOf(daemon)?.schedules?.next ?? [];
      return jobs.length > 0 && jobs;
    }, 10_000, 'jobs in the status file');
    const { stdout, status } = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'status', '--workspace', daemon.workspace], { cwd: PROJECT_ROOT, encoding: 'utf8', env: { ...process.env, ...clock.daemonOptions().env } });
    expect(status).toBe(0);
    expect(stdout).toContain('next scheduled jobs:');
    for (const { job, dueAt, sessionId } of next) {
      expect(stdout).toContain(new Date(dueAt).toISOString().replace(/\.\d{3}Z$/, 'Z'));
      expect(stdout).toContain(`${job} in ${sessionId}`);
    }
    // the cron job is among them, soonest first
    const cron = next.find((n) => n.what === 'Say tick.');
    expect(cron).toBeDefined();
    expect(next.map((n) => n.dueAt)).toEqual([...next.map((n) => n.dueAt)].sort((a, b) => a - b));
  });
});
