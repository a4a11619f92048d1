import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from '../core/atomic-write.ts';
import type { Sharing } from '../core/file-lock.ts';
import { addChanges, mergePeriod, MergedJsonFile } from '../core/merged-json-file.ts';
import type { Logger } from '../log.ts';

const tallySchema = z.object({
  messages: z.number(),
  promptTokens: z.number(),
  completionTokens: z.number(),
  cost: z.number(),
});

const usageSchema = z.object({
  version: z.literal(1),
  /** The UTC day (YYYY-MM-DD) the tallies count. */
  day: z.string(),
  /** By `<channel>:<user id>`. */
  users: z.record(z.string(), tallySchema),
  /** By `<channel>:<chat id>`. */
  chats: z.record(z.string(), tallySchema),
  /** Times of the messages answered in the last minute, by `user:<key>` and `chat:<key>`. */
  recent: z.record(z.string(), z.array(z.number())),
  /** By `<scope>:<key>:<limit>`: no further notice for that limit before this time. */
  notices: z.record(z.string(), z.number()),
});

export type Tally = z.infer<typeof tallySchema>;
export type UsageState = z.infer<typeof usageSchema>;

export function emptyUsage(day: string): UsageState {
  return { version: 1, day, users: {}, chats: {}, recent: {}, notices: {} };
}

/** The UTC day of `ms` as YYYY-MM-DD: the day windows of the limits. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * `.mybot/usage.json`: the counters behind limits and /usage, so a restart does not hand anyone a
 * fresh budget. Losing them is not worse than that, so a file that cannot be read is logged and
 * replaced, not fatal.
 *
 * `shared`: several processes count into the file (server roles on one workspace). `save` then adds
 * this process's counts since its last save to the file's under a lock (see MergedJsonFile) and
 * returns the sum, and `refresh` takes in the others' saves; so a limit counts every process's
 * messages and tokens, each process's as of its last save.
 */
export class UsageStore {
  private readonly merged: MergedJsonFile<UsageState> | undefined;

  constructor(
    readonly file: string,
    private readonly log: Logger,
    { shared = false }: Sharing = {},
  ) {
    this.merged = shared ? new MergedJsonFile(file, { parse: (json) => usageSchema.parse(json), merge: mergeUsage }, (err) => this.unreadable(err)) : undefined;
  }

  get shared(): boolean {
    return this.merged !== undefined;
  }

  load(today: string): UsageState {
    if (this.merged) return this.merged.load(emptyUsage(today));
    if (!existsSync(this.file)) return emptyUsage(today);
    try {
      return usageSchema.parse(JSON.parse(readFileSync(this.file, 'utf8')));
    } catch (err) {
      this.unreadable(err);
      return emptyUsage(today);
    }
  }

  /** Writes `state`; shared, writes and returns it with the other processes' counts added. */
  save(state: UsageState, now: number): UsageState {
    if (this.merged) return this.merged.sync(state, now);
    writeFileAtomic(this.file, JSON.stringify(state));
    return state;
  }

  /** Shared: `state` with what the other processes saved since this one last looked. */
  refresh(state: UsageState, now: number): UsageState {
    return this.merged ? this.merged.refresh(state, now) : state;
  }

  private unreadable(err: unknown): void {
    this.log.warn({ file: this.file, reason: err instanceof Error ? err.message.slice(0, 200) : String(err) }, 'usage counters could not be read; counting from zero');
  }
}

const MINUTE_MS = 60_000;
const ZERO_TALLY: Tally = { messages: 0, promptTokens: 0, completionTokens: 0, cost: 0 };

/**
 * The disk's counters plus this process's changes since `base`: daily tallies add (a newer day
 * wins whole), the minute windows take this process's new times, a notice lasts to the latest
 * `until`. What is over a minute old (times) or past (notices) is dropped.
 */
export function mergeUsage(disk: UsageState, base: UsageState, mine: UsageState, now: number): UsageState {
  const period = { disk: disk.day, base: base.day, mine: mine.day };
  const addTally = (d?: Tally, m?: Tally, b?: Tally) => addChanges(d, m, b, ZERO_TALLY);
  const recent: UsageState['recent'] = {};
  for (const id of new Set([...Object.keys(disk.recent), ...Object.keys(mine.recent)])) {
    const times = [...(disk.recent[id] ?? []), ...added(mine.recent[id] ?? [], base.recent[id] ?? [])].filter((t) => now - t < MINUTE_MS);
    if (times.length > 0) recent[id] = times.sort((a, b) => a - b).slice(-1000);
  }
  const notices: UsageState['notices'] = {};
  for (const [id, until] of [...Object.entries(disk.notices), ...Object.entries(mine.notices)]) if (until > now && until > (notices[id] ?? 0)) notices[id] = until;
  return {
    version: 1,
    day: period.disk > period.mine ? disk.day : mine.day,
    users: mergePeriod(period, { disk: disk.users, base: base.users, mine: mine.users }, addTally),
    chats: mergePeriod(period, { disk: disk.chats, base: base.chats, mine: mine.chats }, addTally),
    recent,
    notices,
  };
}

/** The times in `mine` that are not in `base` (each time counted as often as it occurs). */
function added(mine: number[], base: number[]): number[] {
  const left = new Map<number, number>();
  for (const t of base) left.set(t, (left.get(t) ?? 0) + 1);
  return mine.filter((t) => {
    const n = left.get(t) ?? 0;
    if (n > 0) left.set(t, n - 1);
    return n === 0;
  });
}
