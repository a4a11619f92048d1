import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from '../core/atomic-write.ts';
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
 */
export class UsageStore {
  constructor(
    readonly file: string,
    private readonly log: Logger,
  ) {}

  load(today: string): UsageState {
    if (!existsSync(this.file)) return emptyUsage(today);
    try {
      return usageSchema.parse(JSON.parse(readFileSync(this.file, 'utf8')));
    } catch (err) {
      this.log.warn({ file: this.file, reason: err instanceof Error ? err.message.slice(0, 200) : String(err) }, 'usage counters could not be read; counting from zero');
      return emptyUsage(today);
    }
  }

  save(state: UsageState): void {
    writeFileAtomic(this.file, JSON.stringify(state));
  }
}
