import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic-write.ts';
import { stampOf } from './file-catalogue.ts';
import { withFileLock } from './file-lock.ts';

export interface MergeRules<T> {
  /** The file's JSON as a state; throws when it is not one. */
  parse(json: unknown): T;
  /** What is on disk plus this process's changes since `base`, the state of the last sync. */
  merge(disk: T, base: T, mine: T, now: number): T;
}

/**
 * A JSON file of counters that several processes add to (the usage counters, the cost ledger).
 * Each keeps its view in memory and remembers the state it last synced (`base`): `sync` adds its
 * changes since then to what is on disk now, under the file lock, writes the sum and takes it as
 * its view; `refresh` takes in what the others wrote without writing. So no process overwrites
 * another's counts, and each sees theirs as of their last write.
 */
export class MergedJsonFile<T> {
  /** Set by `load`, which comes first. */
  private base!: T;
  /** The file's text as `base` came from: when the file still holds it, nobody else wrote since. */
  private text: string | undefined;
  /** The file as last looked at: `refresh` reads it only when this changed. */
  private stamp: string | undefined;

  constructor(
    readonly file: string,
    private readonly rules: MergeRules<T>,
    /** The file exists but is not a state: it is then replaced by this process's view. */
    private readonly unreadable: (err: unknown) => void,
  ) {}

  /** The state on disk (or `empty` when there is none or it cannot be read), as the starting view. */
  load(empty: T): T {
    this.stamp = stampOf(this.file);
    this.text = this.readText();
    this.base = (this.text === undefined ? undefined : this.parse(this.text)) ?? empty;
    return structuredClone(this.base);
  }

  sync(mine: T, now: number): T {
    return withFileLock(this.file, () => {
      const text = this.readText();
      const disk = text === undefined || text === this.text ? undefined : this.parse(text);
      // the file as this process left it, or unreadable: this process's view is the sum
      const merged = disk === undefined ? mine : this.rules.merge(disk, this.base, mine, now);
      this.text = JSON.stringify(merged);
      writeFileAtomic(this.file, this.text);
      this.stamp = stampOf(this.file);
      this.base = structuredClone(merged);
      return merged;
    });
  }

  /** `mine` with what other processes wrote since this one last looked; `mine` itself when the file did not change. */
  refresh(mine: T, now: number): T {
    const stamp = stampOf(this.file);
    if (stamp === this.stamp) return mine;
    this.stamp = stamp;
    const text = this.readText();
    const disk = text === undefined || text === this.text ? undefined : this.parse(text);
    if (disk === undefined) return mine;
    const merged = this.rules.merge(disk, this.base, mine, now);
    // a copy: `merged` may hold the disk's objects, which the caller goes on to change
    this.base = structuredClone(disk);
    this.text = text;
    return merged;
  }

  private readText(): string | undefined {
    try {
      return readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.unreadable(err);
      return undefined;
    }
  }

  private parse(text: string): T | undefined {
    try {
      return this.rules.parse(JSON.parse(text));
    } catch (err) {
      this.unreadable(err);
      return undefined;
    }
  }
}

type Numbers<K extends string> = Record<K, number>;

/** `disk + mine - base`, field by field: a counter of one process added to the others'. */
export function addChanges<K extends string>(disk: Numbers<K> | undefined, mine: Numbers<K> | undefined, base: Numbers<K> | undefined, zero: Numbers<K>): Numbers<K> {
  const sum = { ...zero };
  for (const key of Object.keys(zero) as K[]) sum[key] = (disk?.[key] ?? 0) + (mine?.[key] ?? 0) - (base?.[key] ?? 0);
  return sum;
}

/**
 * Counters that start at zero each period (a UTC day, a month), merged: the newer period wins
 * whole; in the same period, this process's changes since `base` are added to the disk's (all of
 * its counts when `base` was of an earlier period: it rolled over since). Entries this process
 * did not change are the disk's as they are.
 */
export function mergePeriod<V extends Numbers<string>>(
  period: { disk: string; base: string; mine: string },
  values: { disk: Record<string, V>; base: Record<string, V>; mine: Record<string, V> },
  add: (disk: V | undefined, mine: V | undefined, base: V | undefined) => V,
): Record<string, V> {
  if (period.disk > period.mine) return values.disk;
  if (period.disk < period.mine) return values.mine;
  const base = period.base === period.mine ? values.base : {};
  const merged = { ...values.disk };
  for (const [key, mine] of Object.entries(values.mine)) {
    const before = base[key];
    if (before === undefined || Object.keys(mine).some((field) => mine[field] !== before[field])) merged[key] = add(values.disk[key], mine, before);
  }
  return merged;
}
