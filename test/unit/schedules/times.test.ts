import { describe, expect, it } from 'vitest';
import { formatWallTime, fromWallTime, isTimeZone, wallTime } from '../../../src/core/time-zone.ts';
import { targetOf } from '../../../src/schedules/target.ts';
import { cronOf, nextRun, resolveAt, runsBetween, shortestGapMs } from '../../../src/schedules/times.ts';

const MINUTE = 60_000;
const NOW = Date.UTC(2030, 0, 7, 8, 0, 0); // Monday

describe('time zones', () => {
  it('turns a wall time into an instant and back, across a DST change', () => {
    expect(fromWallTime({ year: 2030, month: 1, day: 7, hour: 9, minute: 0, second: 0 }, 'Europe/Berlin')).toBe(Date.UTC(2030, 0, 7, 8, 0, 0));
    expect(fromWallTime({ year: 2030, month: 7, day: 7, hour: 9, minute: 0, second: 0 }, 'Europe/Berlin')).toBe(Date.UTC(2030, 6, 7, 7, 0, 0));
    expect(fromWallTime({ year: 2030, month: 1, day: 7, hour: 9, minute: 30, second: 0 }, 'America/New_York')).toBe(Date.UTC(2030, 0, 7, 14, 30, 0));
    // 02:30 does not exist on 2030-03-31 in Berlin (clocks go 02:00 → 03:00): the time after the gap
    const inGap = fromWallTime({ year: 2030, month: 3, day: 31, hour: 2, minute: 30, second: 0 }, 'Europe/Berlin');
    expect(wallTime(inGap, 'Europe/Berlin')).toMatchObject({ hour: 3, minute: 30 });
    expect(formatWallTime(NOW, 'Asia/Tokyo')).toBe('Mon 2030-01-07 17:00');
  });

  it('knows IANA names and refuses others', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });
});

describe('resolveAt', () => {
  it.each([
    ['in 20 minutes', NOW + 20 * MINUTE],
    ['in 2 minutes', NOW + 2 * MINUTE],
    ['In 1 hour 30 minutes', NOW + 90 * MINUTE],
    ['in 1 day and 2 hours', NOW + 26 * 60 * MINUTE],
    ['in 90s', NOW + 90_000],
    ['in 2h', NOW + 120 * MINUTE],
    ['2030-01-07T09:15', Date.UTC(2030, 0, 7, 8, 15)], // Berlin, no offset given
    ['2030-01-07 09:15:30', Date.UTC(2030, 0, 7, 8, 15, 30)],
    ['2030-01-07T09:15Z', Date.UTC(2030, 0, 7, 9, 15)],
    ['2030-01-07T09:15:00+05:30', Date.UTC(2030, 0, 7, 3, 45)],
    ['2030-01-08', Date.UTC(2030, 0, 7, 23, 0)],
  ])('%s', (text, expected) => {
    expect(resolveAt(text, NOW, 'Europe/Berlin')).toBe(expected);
  });

  it.each([['tomorrow at 9'], ['in a while'], ['in 0 minutes'], ['in 5 fortnights'], ['2030-13-01T09:00'], ['2030-01-07T25:00']])('refuses %s, saying what is accepted', (text) => {
    expect(() => resolveAt(text, NOW, 'UTC')).toThrow(/not a (valid )?(time|delay|date)|ISO time|in 20 minutes/);
  });
});

describe('cron expressions (croner)', () => {
  it('takes 5 fields only, and says what is wrong', () => {
    expect(() => cronOf('* * * * * *', 'UTC')).toThrow(/not a 5-field cron expression/);
    expect(() => cronOf('@daily', 'UTC')).toThrow(/not a 5-field cron expression/);
    expect(() => cronOf('61 * * * *', 'UTC')).toThrow(/not a valid cron expression/);
  });

  it('runs in the time zone given', () => {
    expect(nextRun('0 9 * * 1', 'Europe/Berlin', NOW)).toBe(Date.UTC(2030, 0, 14, 8, 0));
    expect(nextRun('0 9 * * 1', 'UTC', NOW)).toBe(Date.UTC(2030, 0, 7, 9, 0));
  });

  it('finds the shortest gap between runs, also where a list puts two runs close together once a day', () => {
    expect(shortestGapMs('*/5 * * * *', 'UTC', NOW)).toBe(5 * MINUTE);
    expect(shortestGapMs('* * * * *', 'UTC', NOW)).toBe(MINUTE);
    expect(shortestGapMs('0,2 9 * * *', 'UTC', NOW)).toBe(2 * MINUTE);
    expect(shortestGapMs('0 9 * * 1', 'UTC', NOW)).toBe(7 * 24 * 60 * MINUTE);
  });

  it('lists the runs between two times: the latest, and how many came before it', () => {
    expect(runsBetween('0 * * * *', 'UTC', NOW, NOW + 3 * 60 * MINUTE + 1)).toEqual({ latest: NOW + 3 * 60 * MINUTE, earlier: 2 });
    // a run exactly at `after` is not in the range; one exactly at `upTo` is
    expect(runsBetween('0 * * * *', 'UTC', NOW, NOW + 60 * MINUTE)).toEqual({ latest: NOW + 60 * MINUTE, earlier: 0 });
    expect(runsBetween('0 * * * *', 'UTC', NOW, NOW + 59 * MINUTE)).toEqual({ earlier: 0 });
  });
});

describe('targetOf', () => {
  it('reads a session id as /session shows it', () => {
    expect(targetOf('telegram:123')).toEqual({ sessionId: 'telegram:123', target: { channel: 'telegram', chatId: '123', userId: '123', chatType: 'private' } });
    expect(targetOf('telegram:-1001234:7')).toEqual({ sessionId: 'telegram:-1001234:7', target: { channel: 'telegram', chatId: '-1001234', threadId: '7', chatType: 'group' } });
    expect(targetOf('discord:123456789012345678')).toEqual({ sessionId: 'discord:123456789012345678', target: { channel: 'discord', chatId: '123456789012345678', chatType: 'group' } });
    expect(() => targetOf('terminal:local')).toThrow(/like telegram:123456789/);
    expect(() => targetOf('telegram:abc')).toThrow(/is not a chat/);
  });
});
