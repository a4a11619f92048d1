import { afterEach, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../../../src/config/schema.ts';
import type { Actor } from '../../../src/core/actor.ts';
import type { InboundEvent } from '../../../src/core/events.ts';
import { Journal } from '../../../src/core/journal.ts';
import { jobFiles } from '../../../src/schedules/job-files.ts';
import { ScheduleBook } from '../../../src/schedules/schedule-book.ts';
import { ScheduleStore } from '../../../src/schedules/schedule-store.ts';
import { SchedulerWorker } from '../../../src/schedules/scheduler-worker.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { ManualClock } from '../../helpers/manual-clock.ts';

const T0 = Date.UTC(2030, 0, 7, 8, 0, 0);
const MINUTE = 60_000;
const ALICE: Actor = { source: { channel: 'telegram', chatId: '42', userId: '42', chatType: 'private', messageId: '7' }, sessionId: 'telegram:42', owner: false };

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The scheduler over a real store, schedules/ folder and journal in a temp workspace, on a manual clock. */
function rig(dir = mkdtempSync(join(tmpdir(), 'mybot-scheduler-')), clock = new ManualClock(T0), schedules: Record<string, unknown> = {}) {
  if (!dirs.includes(dir)) dirs.push(dir);
  const { logger, lines } = memoryLogger();
  const config = configSchema.parse({ agent: { timezone: 'UTC' }, schedules });
  const store = new ScheduleStore(join(dir, 'schedules.json'), logger);
  const book = new ScheduleBook({ store, files: jobFiles(join(dir, 'schedules'), logger), config: () => config, clock, log: logger });
  const journal = new Journal(join(dir, 'journal.jsonl'), { log: logger });
  const published: InboundEvent[] = [];
  const publish = (event: InboundEvent) => {
    published.push(event);
    return journal.append(event);
  };
  const worker = new SchedulerWorker({ book, publish, clock, config: () => config, log: logger });
  return { dir, clock, store, book, journal, published, worker, lines };
}

describe('SchedulerWorker', () => {
  it('fires a recurring job once per due time, under schedule:<job>:<due time>, into the chat it was made in', async () => {
    const { book, worker, clock, published, journal } = rig();
    const job = book.create({ cron: '*/5 * * * *', instruction: 'Say tick.' }, ALICE);
    await worker.start();
    for (let i = 0; i < 16; i++) await clock.advance(MINUTE);
    await worker.stop();
    const dues = [5, 10, 15].map((m) => new Date(T0 + m * MINUTE).toISOString());
    expect(published.map((e) => e.id)).toEqual(dues.map((d) => `schedule:${job.id}:${d}`));
    expect(published[0]).toMatchObject({
      sessionId: 'telegram:42',
      // not a reply to the message that made it
      source: { channel: 'telegram', chatId: '42', userId: '42', chatType: 'private' },
      scheduled: { job: job.id, dueAt: T0 + 5 * MINUTE },
      retryCount: 0,
    });
    expect(published[0]!.source.messageId).toBeUndefined();
    expect(published[0]!.content).toMatch(/^\[Scheduled task \w+, due Mon 2030-01-07 08:05 \(UTC\)\]\n.*not from a person.*\nTask: Say tick\.$/s);
    expect(journal.pendingCount).toBe(3);
    journal.close();
  });

  it('after a crash between journaling a firing and recording it, publishes the same id again, which the journal refuses', async () => {
    const first = rig();
    const job = first.book.create({ at: 'in 5 minutes', instruction: 'Cake.' }, ALICE);
    copyFileSync(join(first.dir, 'schedules.json'), join(first.dir, 'before.json'));
    await first.worker.start();
    await first.clock.advance(5 * MINUTE);
    await first.worker.stop();
    expect(first.published).toHaveLength(1);
    first.journal.close();
    // the crash: the schedules file never learned of the firing
    copyFileSync(join(first.dir, 'before.json'), join(first.dir, 'schedules.json'));

    const second = rig(first.dir, new ManualClock(T0 + 5 * MINUTE + 3_000));
    await second.worker.start();
    await second.worker.stop();
    expect(second.published.map((e) => e.id)).toEqual(first.published.map((e) => e.id));
    expect(second.journal.pendingEvents()).toHaveLength(1);
    expect(second.lines.find((l) => l.msg === 'scheduled job had fired already: its event is in the journal')).toMatchObject({ jobId: job.id });
    // recorded now: a one-off job is done
    expect(second.store.agentJobs()).toEqual([]);
    second.journal.close();
  });

  it('a due time that passed while it ran fires even when later than catch_up_s (a busy loop); one missed while down does not', async () => {
    const running = rig(undefined, undefined, { catch_up_s: 0 });
    running.book.create({ at: 'in 5 minutes', instruction: 'On time.' }, ALICE);
    await running.worker.start();
    await running.clock.advance(5 * MINUTE + 30_000);
    expect(running.published).toHaveLength(1);
    await running.worker.stop();
    running.journal.close();

    const down = rig(undefined, undefined, { catch_up_s: 0 });
    down.book.create({ at: 'in 5 minutes', instruction: 'While down.' }, ALICE);
    const restarted = rig(down.dir, new ManualClock(T0 + 5 * MINUTE + 30_000), { catch_up_s: 0 });
    down.journal.close();
    await restarted.worker.start();
    await restarted.worker.stop();
    expect(restarted.published).toEqual([]);
    expect(restarted.lines.find((l) => /^scheduled job missed: due while the daemon was down/.test(String(l.msg)))).toMatchObject({ lateS: 30, catchUpS: 0 });
    expect(restarted.store.agentJobs()).toEqual([]);
    restarted.journal.close();
  });

  it('when the disk refuses to record a firing, the job does not fire again in this run', async () => {
    const { dir, book, worker, clock, published, lines, journal } = rig();
    book.create({ at: 'in 5 minutes', instruction: 'Once.' }, ALICE);
    // the schedules file can no longer be replaced
    rmSync(join(dir, 'schedules.json'));
    mkdirSync(join(dir, 'schedules.json'));
    writeFileSync(join(dir, 'schedules.json', 'blocker'), '');
    await worker.start();
    await clock.advance(5 * MINUTE);
    for (let i = 0; i < 3; i++) await clock.advance(1_000);
    await worker.stop();
    expect(published).toHaveLength(1);
    expect(lines.filter((l) => l.msg === 'could not record a scheduled job as handled; the journal keeps it from firing twice')).toHaveLength(1);
    journal.close();
  });

  it('a schedules/ file job is seen, fires from the time it was first seen, and its state is dropped with the file', async () => {
    const { dir, worker, clock, published, store, journal } = rig();
    mkdirSync(join(dir, 'schedules'));
    writeFileSync(join(dir, 'schedules', 'hourly.md'), '---\ncron: "0 * * * *"\nsession: telegram:42\n---\nStretch.\n');
    await worker.start();
    expect(store.fileState('hourly')).toEqual({ since: T0 });
    await clock.advance(60 * MINUTE);
    expect(published.map((e) => e.id)).toEqual([`schedule:file:hourly:${new Date(T0 + 60 * MINUTE).toISOString()}`]);
    expect(published[0]!.source).toEqual({ channel: 'telegram', chatId: '42', userId: '42', chatType: 'private' });
    rmSync(join(dir, 'schedules', 'hourly.md'));
    await clock.advance(1_000);
    expect(store.fileState('hourly')).toBeUndefined();
    expect(worker.status().next).toEqual([]);
    await worker.stop();
    journal.close();
  });

  it('status lists the next due times, soonest first', async () => {
    const { book, worker, journal } = rig();
    const later = book.create({ at: 'in 2 hours', instruction: 'Later.' }, ALICE);
    const sooner = book.create({ cron: '30 8 * * *', instruction: 'Sooner.' }, ALICE);
    await worker.start();
    const status = worker.status();
    await worker.stop();
    expect(status.checkedAt).toBe(T0);
    expect(status.next).toEqual([
      { job: sooner.id, dueAt: T0 + 30 * MINUTE, sessionId: 'telegram:42', what: 'Sooner.' },
      { job: later.id, dueAt: T0 + 120 * MINUTE, sessionId: 'telegram:42', what: 'Later.' },
    ]);
    journal.close();
  });
});
