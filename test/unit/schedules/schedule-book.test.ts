import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../../../src/config/schema.ts';
import type { Actor } from '../../../src/core/actor.ts';
import { parseJobFile } from '../../../src/schedules/job-files.ts';
import { jobFiles } from '../../../src/schedules/job-files.ts';
import { ScheduleBook } from '../../../src/schedules/schedule-book.ts';
import { ScheduleStore } from '../../../src/schedules/schedule-store.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { ManualClock } from '../../helpers/manual-clock.ts';

const T0 = Date.UTC(2030, 0, 7, 8, 0, 0);
const group = (userId: string, owner = false): Actor => ({ source: { channel: 'telegram', chatId: '-100', userId, chatType: 'group' }, sessionId: 'telegram:-100', owner });
const OWNER_DM: Actor = { source: { channel: 'telegram', chatId: '1', userId: '1', chatType: 'private' }, sessionId: 'telegram:1', owner: true };

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function bookWith(schedules: Record<string, unknown> = {}, agent: Record<string, unknown> = { timezone: 'Europe/Berlin' }) {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-book-'));
  dirs.push(dir);
  const { logger } = memoryLogger();
  const config = configSchema.parse({ agent, schedules });
  return new ScheduleBook({ store: new ScheduleStore(join(dir, 'schedules.json'), logger), files: jobFiles(join(dir, 'schedules'), logger), config: () => config, clock: new ManualClock(T0), log: logger });
}

describe('ScheduleBook: making and deleting jobs', () => {
  it('reads `at` in the job time zone, else agent.timezone, and refuses a time that has passed', () => {
    const book = bookWith();
    expect(book.create({ at: '2030-01-07T10:00', instruction: 'x' }, group('2')).at).toBe(Date.UTC(2030, 0, 7, 9, 0));
    expect(book.create({ at: '2030-01-07T10:00', timezone: 'UTC', instruction: 'x' }, group('2')).at).toBe(Date.UTC(2030, 0, 7, 10, 0));
    expect(() => book.create({ at: '2030-01-07T08:30', instruction: 'x' }, group('2'))).toThrow('Mon 2030-01-07 08:30 (Europe/Berlin) has passed; it is Mon 2030-01-07 09:00 now');
    expect(() => book.create({ at: 'in 5 minutes', timezone: 'Nowhere/Land', instruction: 'x' }, group('2'))).toThrow(/not a time zone/);
    expect(() => book.create({ instruction: 'x' }, group('2'))).toThrow(/either at \(once\) or cron/);
    expect(() => book.create({ at: 'in 5 minutes', cron: '0 9 * * *', instruction: 'x' }, group('2'))).toThrow(/either at \(once\) or cron/);
    expect(() => book.create({ at: 'in 5 minutes', instruction: '  ' }, group('2'))).toThrow(/instruction is empty/);
  });

  it('owners are exempt from the 5-minute rule and schedules.max_per_chat; others are not', () => {
    const book = bookWith({ max_per_chat: 1 });
    expect(() => book.create({ cron: '*/2 * * * *', instruction: 'x' }, group('2'))).toThrow(/more often than every 5 minutes/);
    book.create({ cron: '*/5 * * * *', instruction: 'x' }, group('2'));
    expect(() => book.create({ at: 'in 1 hour', instruction: 'x' }, group('3'))).toThrow(/already has 1 scheduled jobs \(schedules.max_per_chat\)/);
    expect(book.create({ cron: '* * * * *', instruction: 'x' }, group('9', true)).cron).toBe('* * * * *');
  });

  it('only an owner may name another chat; the job then runs there', () => {
    const book = bookWith();
    expect(() => book.create({ at: 'in 1 hour', chat: 'telegram:5', instruction: 'x' }, group('2'))).toThrow(/only an owner/);
    const job = book.create({ at: 'in 1 hour', chat: 'telegram:5', instruction: 'x' }, OWNER_DM);
    expect(job).toMatchObject({ sessionId: 'telegram:5', target: { chatId: '5', userId: '5', chatType: 'private' }, byOwner: true, createdBy: 'telegram:1' });
  });

  it('a job is deleted by whoever made it or an owner, seen only in its chat (an owner sees all in private)', () => {
    const book = bookWith();
    const job = book.create({ at: 'in 1 hour', instruction: 'x' }, group('2'));
    expect(() => book.remove(job.id, group('3'))).toThrow(`only the person who made ${job.id}, or an owner, may delete it`);
    expect(() => book.remove(job.id, OWNER_DM)).not.toThrow();
    const other = book.create({ at: 'in 1 hour', instruction: 'x' }, group('2'));
    expect(book.visibleTo({ ...OWNER_DM, owner: false })).toEqual([]);
    expect(book.visibleTo(OWNER_DM).map((j) => j.id)).toEqual([other.id]);
    expect(() => book.remove(other.id, { ...OWNER_DM, owner: false })).toThrow(/there is no job/);
    expect(book.remove(other.id, group('2')).id).toBe(other.id);
  });
});

describe('parseJobFile', () => {
  const parse = (text: string, entry = 'weekly.md') => parseJobFile(text, entry, `/ws/schedules/${entry}`);

  it('reads cron or at, session or chat, enabled, and the body as the instruction', () => {
    expect(parse('---\ncron: "0 9 * * 1"\ntimezone: Europe/Berlin\nsession: telegram:-1001:7\nenabled: false\n---\nSummarise my notes.\n')).toEqual({
      name: 'weekly',
      cron: '0 9 * * 1',
      timezone: 'Europe/Berlin',
      enabled: false,
      instruction: 'Summarise my notes.',
      sessionId: 'telegram:-1001:7',
      target: { channel: 'telegram', chatId: '-1001', threadId: '7', chatType: 'group' },
      file: '/ws/schedules/weekly.md',
    });
    expect(parse('---\nat: 2030-01-07T09:00\nchat: discord:123456789012345678\n---\nPing.').at).toBe('2030-01-07T09:00');
  });

  it.each([
    ['both cron and at', '---\ncron: "0 9 * * *"\nat: 2030-01-07T09:00\nchat: telegram:1\n---\nx', /either cron: .* or at:/],
    ['no chat', '---\ncron: "0 9 * * *"\n---\nx', /session: or chat:/],
    ['a relative at', '---\nat: in 5 minutes\nchat: telegram:1\n---\nx', /is relative; a file needs a date and time/],
    ['a bad cron', '---\ncron: "0 25 * * *"\nchat: telegram:1\n---\nx', /not a valid cron expression/],
    ['an unknown key', '---\ncron: "0 9 * * *"\nchat: telegram:1\nevery: day\n---\nx', /every/],
    ['a bad chat', '---\ncron: "0 9 * * *"\nchat: whatsapp:1\n---\nx', /is not a chat/],
    ['no instruction', '---\ncron: "0 9 * * *"\nchat: telegram:1\n---\n', /no instruction/],
    ['a bad time zone', '---\ncron: "0 9 * * *"\ntimezone: Moon/Base\nchat: telegram:1\n---\nx', /IANA time zone/],
  ])('refuses %s, saying what to fix', (_case, text, reason) => {
    expect(() => parse(text)).toThrow(reason);
  });

  it('refuses a file name that is not lowercase-with-hyphens', () => {
    expect(() => parse('---\ncron: "0 9 * * *"\nchat: telegram:1\n---\nx', 'My Job.md')).toThrow(/like weekly-summary\.md/);
  });
});
