import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Config } from '../config/schema.ts';
import { writeFileAtomic } from '../core/atomic-write.ts';
import type { Sharing } from '../core/file-lock.ts';
import { addChanges, mergePeriod, MergedJsonFile } from '../core/merged-json-file.ts';
import type { Logger } from '../log.ts';
import type { LlmObserver } from './failover-llm.ts';
import type { LlmReply } from './llm.ts';
import { utcDay } from './usage-store.ts';

const periodSchema = z.object({ promptTokens: z.number(), completionTokens: z.number(), cost: z.number() });
const ledgerSchema = z.object({
  version: z.literal(1),
  /** The UTC day and month (YYYY-MM-DD, YYYY-MM) the figures count. */
  day: z.string(),
  month: z.string(),
  models: z.record(z.string(), z.object({ today: periodSchema, month: periodSchema })),
});

export type Period = z.infer<typeof periodSchema>;
type Ledger = z.infer<typeof ledgerSchema>;
/** Figures reach the disk this long after a change at most, and at stop. */
const FLUSH_MS = 2000;

/**
 * Tokens and estimated cost per model, today and this month (UTC), from every LLM call the API
 * reported usage for: turns, compactions, calls a fallback answered. Priced with limits.prices at
 * the time of the call. Kept in `.mybot/costs.json` so a restart does not zero the month.
 * `shared`: several processes add to the file; each adds its figures since its last write to the
 * file's under a lock (see MergedJsonFile), and /usage shows them all as of each one's last write.
 */
export class CostLedger implements LlmObserver {
  private ledger: Ledger;
  private timer?: NodeJS.Timeout;
  private readonly merged: MergedJsonFile<Ledger> | undefined;

  constructor(
    private readonly file: string | undefined,
    private readonly prices: () => Config['limits']['prices'],
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    { shared = false }: Sharing = {},
  ) {
    this.merged = shared && file ? new MergedJsonFile(file, { parse: (json) => ledgerSchema.parse(json), merge: mergeLedgers }, (err) => this.unreadable(err)) : undefined;
    this.ledger = this.load();
  }

  answered(model: string, _seconds: number, usage: LlmReply['usage']): void {
    if (!usage) return;
    this.rollover();
    const price = this.prices()[model];
    const cost = price ? (usage.promptTokens * price.input_per_mtok + usage.completionTokens * price.output_per_mtok) / 1e6 : 0;
    const entry = (this.ledger.models[model] ??= { today: emptyPeriod(), month: emptyPeriod() });
    for (const period of [entry.today, entry.month]) {
      period.promptTokens += usage.promptTokens;
      period.completionTokens += usage.completionTokens;
      period.cost += cost;
    }
    this.changed();
  }

  failed(): void {}

  /** Per model, most expensive this month first. */
  figures(): Array<{ model: string; today: Period; month: Period }> {
    if (this.merged) this.ledger = this.merged.refresh(this.ledger, this.now());
    this.rollover();
    return Object.entries(this.ledger.models)
      .map(([model, { today, month }]) => ({ model, today, month }))
      .sort((a, b) => b.month.cost - a.month.cost || a.model.localeCompare(b.model));
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.file) return;
    try {
      if (this.merged) this.ledger = this.merged.sync(this.ledger, this.now());
      else writeFileAtomic(this.file, JSON.stringify(this.ledger));
    } catch (err) {
      this.log.warn({ err }, 'could not save the cost ledger; retrying with the next change');
    }
  }

  private rollover(): void {
    const day = utcDay(this.now());
    if (day === this.ledger.day) return;
    const month = day.slice(0, 7);
    for (const entry of Object.values(this.ledger.models)) {
      entry.today = emptyPeriod();
      if (month !== this.ledger.month) entry.month = emptyPeriod();
    }
    this.ledger.day = day;
    this.ledger.month = month;
    this.changed();
  }

  private load(): Ledger {
    const day = utcDay(this.now());
    const empty: Ledger = { version: 1, day, month: day.slice(0, 7), models: {} };
    if (this.merged) return this.merged.load(empty);
    if (!this.file || !existsSync(this.file)) return empty;
    try {
      return ledgerSchema.parse(JSON.parse(readFileSync(this.file, 'utf8')));
    } catch (err) {
      this.unreadable(err);
      return empty;
    }
  }

  private unreadable(err: unknown): void {
    this.log.warn({ file: this.file, reason: err instanceof Error ? err.message.slice(0, 200) : String(err) }, 'the cost ledger could not be read; counting from zero');
  }

  private changed(): void {
    if (!this.file || this.timer) return;
    this.timer = setTimeout(() => this.flush(), FLUSH_MS);
    this.timer.unref();
  }
}

function emptyPeriod(): Period {
  return { promptTokens: 0, completionTokens: 0, cost: 0 };
}

/** The disk's figures plus this process's since `base`: per model, today and this month add (a newer day or month wins whole). */
export function mergeLedgers(disk: Ledger, base: Ledger, mine: Ledger): Ledger {
  const pick = (ledger: Ledger, period: 'today' | 'month') => Object.fromEntries(Object.entries(ledger.models).map(([model, entry]) => [model, entry[period]]));
  const add = (d?: Period, m?: Period, b?: Period) => addChanges(d, m, b, emptyPeriod());
  const merge = (period: 'today' | 'month', key: 'day' | 'month') =>
    mergePeriod({ disk: disk[key], base: base[key], mine: mine[key] }, { disk: pick(disk, period), base: pick(base, period), mine: pick(mine, period) }, add);
  const today = merge('today', 'day');
  const month = merge('month', 'month');
  const models: Ledger['models'] = {};
  for (const model of new Set([...Object.keys(today), ...Object.keys(month)])) models[model] = { today: today[model] ?? emptyPeriod(), month: month[model] ?? emptyPeriod() };
  return { version: 1, day: disk.day > mine.day ? disk.day : mine.day, month: disk.month > mine.month ? disk.month : mine.month, models };
}
