import { Cron } from 'croner';
import { fromWallTime } from '../core/time-zone.ts';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const UNITS = /^(s|sec|secs|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)$/;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;
/** How many runs of a cron expression are looked at to find its shortest gap: more than a day of runs at 5-minute spacing. */
const GAP_SAMPLE = 300;

/**
 * When a one-off job is due: an ISO 8601 time (`2030-01-07T09:00`, read in `timeZone` unless it
 * carries `Z` or an offset) or a delay from now (`in 20 minutes`, `in 1 hour 30 minutes`).
 * Throws an Error saying what is accepted.
 */
export function resolveAt(text: string, now: number, timeZone: string): number {
  const input = text.trim();
  const relative = /^in\s+(.+)$/i.exec(input);
  if (relative) return now + durationMs(relative[1]!);
  const iso = ISO.exec(input);
  if (!iso) throw new Error(`'${text}' is not a time: use an ISO time like 2030-01-07T09:00 (in the job's time zone) or a delay like "in 20 minutes"`);
  const [, year, month, day, hour = '0', minute = '0', second = '0', offset] = iso;
  const wall = { year: Number(year), month: Number(month), day: Number(day), hour: Number(hour), minute: Number(minute), second: Number(second) };
  if (wall.month < 1 || wall.month > 12 || wall.day < 1 || wall.day > 31 || wall.hour > 23 || wall.minute > 59 || wall.second > 59) throw new Error(`'${text}' is not a valid date and time`);
  if (!offset) return fromWallTime(wall, timeZone);
  const utc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
  if (offset.toUpperCase() === 'Z') return utc;
  const sign = offset.startsWith('-') ? -1 : 1;
  const digits = offset.slice(1).replace(':', '');
  return utc - sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
}

/** `20 minutes`, `1 hour 30 minutes`, `2h`, `1 day and 3 hours`. */
function durationMs(text: string): number {
  const parts = text.toLowerCase().replace(/,|\band\b/g, ' ').trim().split(/\s+/);
  let total = 0;
  let matched = false;
  for (let i = 0; i < parts.length; i++) {
    const glued = /^(\d+(?:\.\d+)?)([a-z]+)$/.exec(parts[i]!);
    const [amount, unit] = glued ? [glued[1]!, glued[2]!] : [parts[i]!, parts[++i] ?? ''];
    if (!/^\d+(\.\d+)?$/.test(amount) || !UNITS.test(unit)) throw new Error(`'in ${text}' is not a delay: write it like "in 20 minutes" or "in 1 hour 30 minutes"`);
    total += Number(amount) * UNIT_MS[unit.startsWith('mi') || unit === 'm' ? 'm' : unit[0]!]!;
    matched = true;
  }
  if (!matched || total <= 0) throw new Error(`'in ${text}' is not a delay: write it like "in 20 minutes"`);
  return Math.round(total);
}

const crons = new Map<string, Cron>();

/** A parsed 5-field cron expression (croner) in a time zone; throws an Error naming what is wrong. */
export function cronOf(expression: string, timeZone: string): Cron {
  const key = `${timeZone} ${expression}`;
  let cron = crons.get(key);
  if (cron) return cron;
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) throw new Error(`'${expression}' is not a 5-field cron expression (minute hour day-of-month month day-of-week), like "0 9 * * 1" for Mondays at 9:00`);
  try {
    // no callback: croner then only computes run times, it starts no timer
    cron = new Cron(fields.join(' '), { timezone: timeZone, mode: '5-part' });
  } catch (err) {
    throw new Error(`'${expression}' is not a valid cron expression: ${(err as Error).message}`);
  }
  if (crons.size > 1000) crons.clear();
  crons.set(key, cron);
  return cron;
}

/** The shortest time between two runs of a cron expression, over the next GAP_SAMPLE runs. */
export function shortestGapMs(expression: string, timeZone: string, from: number): number {
  const runs = cronOf(expression, timeZone).nextRuns(GAP_SAMPLE, new Date(from)).map((d) => d.getTime());
  let gap = Number.POSITIVE_INFINITY;
  for (let i = 1; i < runs.length; i++) gap = Math.min(gap, runs[i]! - runs[i - 1]!);
  return gap;
}

/** The first run strictly after `after`, or undefined when there is none (a date that never comes again). */
export function nextRun(expression: string, timeZone: string, after: number): number | undefined {
  return cronOf(expression, timeZone).nextRun(new Date(after))?.getTime();
}

/**
 * The runs in (`after`, `upTo`]: the latest one, and how many came before it (counted up to
 * `cap`; beyond it, `cap`).
 */
export function runsBetween(expression: string, timeZone: string, after: number, upTo: number, cap = 1000): { latest?: number; earlier: number } {
  const cron = cronOf(expression, timeZone);
  const latest = cron.previousRuns(1, new Date(upTo + 1))[0]?.getTime();
  if (latest === undefined || latest <= after) return { earlier: 0 };
  let earlier = 0;
  for (let run = cron.nextRun(new Date(after))?.getTime(); run !== undefined && run < latest && earlier < cap; run = cron.nextRun(new Date(run))?.getTime()) earlier++;
  return { latest, earlier };
}
