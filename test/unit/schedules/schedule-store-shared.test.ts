import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../../../src/config/schema.ts';
import type { Actor } from '../../../src/core/actor.ts';
import type { InboundEvent } from '../../../src/core/events.ts';
import { jobFiles } from '../../../src/schedules/job-files.ts';
import { ScheduleBook } from '../../../src/schedules/schedule-book.ts';
import { ScheduleStore } from '../../../src/schedules/schedule-store.ts';
import { SchedulerWorker } from '../../../src/schedules/scheduler-worker.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { ManualClock } from '../../helpers/manual-clock.ts';

const T0 = Date.UTC(2030, 0, 7, 8, 0, 0);
const MINUTE = 60_000;
const ALICE: Actor = { source: { channel: 'telegram', chatId: '42', userId: '42', chatType: 'private' }, sessionId: 'telegram:42', owner: false };
const BOB: Actor = { source: { channel: 'telegram', chatId: '43', userId: '43', chatType: 'private' }, sessionId: 'telegram:43', owner: false };

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * One workspace used as by server roles: the gateway's book with the scheduler, and an agent
 * process's book (its tools make and delete jobs), each with its own ScheduleStore on the file.
 */
function deployment() {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-schedules-shared-'));
  dirs.push(dir);
  const clock = new ManualClock(T0);
  const { logger } = memoryLogger();
  const config = configSchema.parse({ agent: { timezone: 'UTC' } });
  const book = () => {
    const store = new ScheduleStore(join(dir, 'schedules.json'), logger, { shared: true });
    return { store, book: new ScheduleBook({ store, files: jobFiles(join(dir, 'schedules'), logger), config: () => config, clock, log: logger }) };
  };
  const gateway = book();
  const agent = book();
  const published: InboundEvent[] = [];
  const scheduler = new SchedulerWorker({ book: gateway.book, publish: async (event) => (published.push(event), true), clock, config: () => config, log: logger });
  return { dir, clock, gateway, agent, published, scheduler };
}

describe('ScheduleStore shared by several processes', () => {
  it("neither process loses the other's jobs, and each sees the other's at once", () => {
    const { gateway, agent, dir } = deployment();
    const first = agent.book.create({ at: 'in 1 hour', instruction: 'one' }, ALICE);
    const second = gateway.book.create({ at: 'in 2 hours', instruction: 'two' }, BOB);
    const third = agent.book.create({ cron: '0 9 * * *', instruction: 'three' }, ALICE);
    const ids = [first.id, second.id, third.id].sort();
    expect(gateway.store.agentJobs().map((j) => j.id).sort()).toEqual(ids);
    expect(agent.store.agentJobs().map((j) => j.id).sort()).toEqual(ids);
    gateway.book.remove(first.id, ALICE);
    expect(agent.store.agentJobs().map((j) => j.id).sort()).toEqual([second.id, third.id].sort());
    expect(JSON.parse(readFileSync(join(dir, 'schedules.json'), 'utf8')).jobs).toHaveLength(2);
  });

  it("the gateway's scheduler picks up a job an agent process made within a second, and fires it when due", async () => {
    const { clock, agent, published, scheduler } = deployment();
    await scheduler.start();
    const job = agent.book.create({ at: 'in 5 minutes', instruction: 'Cake.' }, ALICE);
    expect(scheduler.status().next).toEqual([]);
    await clock.advance(1_000);
    expect(scheduler.status().next).toEqual([expect.objectContaining({ job: job.id, dueAt: T0 + 5 * MINUTE })]);
    await clock.advance(5 * MINUTE);
    expect(published.map((e) => e.id)).toEqual([`schedule:${job.id}:${new Date(T0 + 5 * MINUTE).toISOString()}`]);
    // a one-off job is done: gone for the agent process too
    expect(agent.store.agentJobs()).toEqual([]);
    await scheduler.stop();
  });

  it('a job deleted in an agent process does not fire in the gateway', async () => {
    const { clock, agent, published, scheduler } = deployment();
    const job = agent.book.create({ cron: '*/5 * * * *', instruction: 'Tick.' }, ALICE);
    await scheduler.start();
    expect(scheduler.status().next.map((n) => n.job)).toEqual([job.id]);
    agent.book.remove(job.id, ALICE);
    for (let i = 0; i < 6; i++) await clock.advance(MINUTE);
    expect(published).toEqual([]);
    expect(scheduler.status().next).toEqual([]);
    await scheduler.stop();
  });

  it('recording a firing does not bring back a job deleted meanwhile in another process', () => {
    const { gateway, agent } = deployment();
    const job = agent.book.create({ cron: '*/5 * * * *', instruction: 'Tick.' }, ALICE);
    const [seen] = gateway.book.jobs();
    agent.book.remove(job.id, ALICE);
    gateway.book.handled(seen!, T0 + 5 * MINUTE);
    expect(gateway.store.agentJobs()).toEqual([]);
    expect(agent.store.agentJobs()).toEqual([]);
  });

  it("a schedules/ file's state: first seen once for all processes, progress only goes forward", async () => {
    const { dir, clock, gateway, agent } = deployment();
    mkdirSync(join(dir, 'schedules'));
    writeFileSync(join(dir, 'schedules', 'hourly.md'), '---\ncron: "0 * * * *"\nsession: telegram:42\n---\nStretch.\n');
    expect(gateway.book.jobs()).toHaveLength(1);
    await clock.advance(10 * MINUTE);
    gateway.store.setFileState('hourly', { since: T0, lastDue: T0 + 60 * MINUTE });
    // the agent process saw the file only now: it must not start the job over
    expect(agent.book.jobs()[0]).toMatchObject({ id: 'file:hourly', since: T0, lastDue: T0 + 60 * MINUTE });
    agent.store.setFileState('hourly', { since: T0 + 10 * MINUTE });
    expect(gateway.store.fileState('hourly')).toEqual({ since: T0, lastDue: T0 + 60 * MINUTE });
  });
});
