import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeOpenAI, type FakeRequest } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { firings, lastUserText, remindOrEcho, SCHEDULED_MARK, statusOf, waitChecked } from '../helpers/schedules.ts';
import { waitFor } from '../helpers/wait.ts';

/** Monday 2030-01-07, 08:00 UTC. */
const T0 = Date.UTC(2030, 0, 7, 8, 0, 0);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const iso = (ms: number) => new Date(ms).toISOString();

/** The daemon SIGKILLed or stopped, and started again on the same workspace on a fake clock that moved meanwhile. */
describe('schedules across crashes and restarts: exactly once per due time', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let clock: FakeClock;
  let workspace: string;
  const daemons: Daemon[] = [];

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
  });
  afterEach(async () => {
    for (const daemon of daemons.splice(0)) await daemon.kill();
    rmSync(workspace, { recursive: true, force: true });
    clock.dispose();
  });
  afterAll(async () => {
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  const start = async (extra: Record<string, unknown> = {}): Promise<Daemon> => {
    const daemon = await Daemon.start({ workspace, config: { ...fakesConfig({ llm, telegram }), agent: { debounce_ms: 0, timezone: 'UTC' }, ...extra }, ...clock.daemonOptions() });
    daemons.push(daemon);
    return daemon;
  };
  const fresh = () => {
    workspace = mkdtempSync(join(tmpdir(), 'mybot-e2e-'));
    clock = new FakeClock(T0);
  };
  const texts = (chatId: number) => telegram.botMessages(chatId).map((m) => m.text);
  const scheduledRequests = () => llm.requests.filter((r) => lastUserText(r).startsWith(SCHEDULED_MARK));
  /** Answers fired jobs after `delayMs`: a SIGKILL right after the firing lands before the answer. */
  const slowReminders = (delayMs: number) => llm.setResponder((req: FakeRequest) => ({ ...remindOrEcho(req), ...(lastUserText(req).startsWith(SCHEDULED_MARK) ? { delayMs } : {}) }));

  /** A reminder made through the tool, fired, and the daemon SIGKILLed right after the firing was journaled. */
  const fireAndKill = async (chatId: number, beforeFiring: () => void = () => undefined) => {
    fresh();
    const first = await start();
    llm.enqueue({ toolCalls: [{ id: `kill-${chatId}`, name: 'schedule_create', arguments: JSON.stringify({ at: 'in 5 minutes', instruction: 'Take the cake out of the oven.' }) }] }, { content: 'Sure.' });
    telegram.userSays({ chatId, text: 'remind me in 5 minutes about the cake' });
    const created = await first.waitForLog('scheduled job created');
    await waitFor(() => texts(chatId).length === 1, 10_000, 'the answer to the request');
    const jobId = String(created.jobId);
    const due = JSON.parse(readFileSync(join(workspace, '.mybot', 'schedules.json'), 'utf8')).jobs[0].at as number;
    beforeFiring();
    slowReminders(3_000);
    const requestsBefore = scheduledRequests().length;
    clock.set(due + 1_000);
    await first.waitForLog('scheduled job fired', (l) => l.jobId === jobId);
    await first.kill('SIGKILL');
    const eventId = `schedule:${jobId}:${iso(due)}`;
    expect(readFileSync(join(workspace, '.mybot', 'journal.jsonl'), 'utf8')).toContain(`"id":"${eventId}"`);
    // killed before the answer came: the reminder was not sent yet
    expect(texts(chatId)).toHaveLength(1);
    llm.setResponder(remindOrEcho);
    return { jobId, due, eventId, requestsBefore };
  };

  it('SIGKILL right after a firing was journaled: one reminder after the restart', async () => {
    const chatId = 5001;
    const { jobId, requestsBefore } = await fireAndKill(chatId);
    const second = await start();
    await waitFor(() => texts(chatId).length === 2, 15_000, 'the reminder after the restart');
    expect(texts(chatId)[1]).toBe('Reminder: Take the cake out of the oven.');
    await waitChecked(second, clock.now());
    clock.set(clock.now() + 10 * MINUTE);
    await waitChecked(second, clock.now());
    expect(texts(chatId)).toHaveLength(2);
    expect(firings(second, jobId)).toHaveLength(0); // the journal replayed the event; the job did not fire again
    expect(scheduledRequests().length - requestsBefore).toBeLessThanOrEqual(2); // the one the kill cut short, and the answer
  });

  it('SIGKILL after the journal took the firing but before the schedules file recorded it: the journal refuses the second publish, one reminder', async () => {
    const chatId = 5002;
    const stateFile = () => join(workspace, '.mybot', 'schedules.json');
    const { jobId, eventId } = await fireAndKill(chatId, () => copyFileSync(stateFile(), `${stateFile()}.before`));
    // as if the kill had come between the two writes: the schedules file does not know the job fired
    copyFileSync(`${stateFile()}.before`, stateFile());
    const second = await start();
    const again = await second.waitForLog('scheduled job had fired already: its event is in the journal', (l) => l.jobId === jobId);
    expect(again.eventId).toBe(eventId);
    await waitFor(() => texts(chatId).length === 2, 15_000, 'the reminder after the restart');
    clock.set(clock.now() + 10 * MINUTE);
    await waitChecked(second, clock.now());
    expect(texts(chatId)).toEqual(['Sure.', 'Reminder: Take the cake out of the oven.']);
    expect(JSON.parse(readFileSync(stateFile(), 'utf8')).jobs).toEqual([]);
  });

  it('after a stop: a job due less than schedules.catch_up_s ago fires once at start, an older one is reported missed, a recurring one fires once', async () => {
    fresh();
    const chatId = 5003;
    mkdirSync(join(workspace, 'schedules'));
    const job = (name: string, when: string, task: string) => writeFileSync(join(workspace, 'schedules', `${name}.md`), `---\n${when}\nsession: telegram:${chatId}\n---\n${task}\n`);
    job('soon', 'at: 2030-01-07T09:30', 'Water the plants.');
    job('long-ago', 'at: 2030-01-07T08:30', 'Call the bank.');
    job('hourly', 'cron: "0 * * * *"', 'Stretch.');
    llm.setResponder(remindOrEcho);
    const extra = { schedules: { catch_up_s: 45 * 60 } };
    const first = await start(extra);
    await waitFor(() => statusOf(first)?.schedules?.next.length === 3, 10_000, 'the three file jobs in the status');
    // Telegram lets a bot write only in chats that wrote to it
    telegram.userSays({ chatId, text: 'hello' });
    await waitFor(() => texts(chatId).length === 1, 10_000, 'the answer to hello');
    expect(await first.kill('SIGTERM')).toBe(0);

    // down from 08:00 to 10:01: soon is 31 minutes late, long-ago 91, hourly missed 09:00 and 10:00
    clock.set(T0 + 2 * HOUR + MINUTE);
    const second = await start(extra);
    await waitFor(() => texts(chatId).length === 3, 15_000, 'two jobs to fire at start');
    expect(texts(chatId).slice(1).sort()).toEqual(['Reminder: Stretch.', 'Reminder: Water the plants.']);
    expect(firings(second, 'file:soon').map((l) => l.dueAt)).toEqual([iso(T0 + 90 * MINUTE)]);
    expect(firings(second, 'file:hourly').map((l) => l.dueAt)).toEqual([iso(T0 + 2 * HOUR)]);
    expect(firings(second, 'file:long-ago')).toEqual([]);
    expect(second.hasLog('scheduled job missed: due while the daemon was down, longer ago than schedules.catch_up_s', (l) => l.jobId === 'file:long-ago')).toMatchObject({ dueAt: iso(T0 + 30 * MINUTE), catchUpS: 2700 });
    expect(second.hasLog(/^scheduled job missed: earlier due times passed/, (l) => l.jobId === 'file:hourly')).toMatchObject({ missed: 1, dueAt: iso(T0 + 2 * HOUR) });

    // nothing fires twice; the recurring job goes on at its next due time
    clock.set(T0 + 2 * HOUR + 30 * MINUTE);
    await waitChecked(second, T0 + 2 * HOUR + 30 * MINUTE);
    expect(texts(chatId)).toHaveLength(3);
    clock.set(T0 + 3 * HOUR + 1_000);
    await waitFor(() => texts(chatId).length === 4, 15_000, 'the next hourly firing');
    expect(firings(second, 'file:hourly').map((l) => l.dueAt)).toEqual([iso(T0 + 2 * HOUR), iso(T0 + 3 * HOUR)]);
    expect(scheduledRequests().filter((r) => lastUserText(r).includes('Call the bank'))).toEqual([]);
  });
});
