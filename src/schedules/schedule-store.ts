import { existsSync, readFileSync, renameSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { storageError } from '../core/errors.ts';
import { withFileLock, type Sharing } from '../core/file-lock.ts';
import type { Logger } from '../log.ts';
import { jobSchema, type Job } from './job.ts';

const fileStateSchema = z.object({ since: z.number(), lastDue: z.number().optional() });
export type FileJobState = z.infer<typeof fileStateSchema>;

const storeSchema = z.object({
  version: z.literal(1),
  /** The jobs the agent made. */
  jobs: z.array(jobSchema).default([]),
  /** For each schedules/<name>.md: when the daemon first saw it, and the latest due time handled. */
  files: z.record(z.string(), fileStateSchema).default({}),
});
type StoreData = z.infer<typeof storeSchema>;

/**
 * `.mybot/schedules.json`: the agent's jobs and how far every job got, written atomically after
 * each change. A firing is recorded here after its event is journaled: a crash between the two
 * fires the same due time again at the next start, under the same event id, which the journal
 * refuses as a duplicate.
 *
 * `shared`: several processes use the file (agents make and delete jobs with their tools, the
 * gateway's scheduler fires them). Every read then reads the file again (a few kB; its text, not
 * its inode and mtime, tells whether it changed: both can repeat within a millisecond) and parses
 * it when another process changed it; every write reads the file and changes it under the file
 * lock, so no process undoes another's change.
 */
export class ScheduleStore {
  private data: StoreData = emptyStore();
  /** Shared: the file's text as last read or written (undefined: there is none; null: not looked at). */
  private text: string | undefined | null = null;
  private readonly shared: boolean;

  constructor(
    readonly file: string,
    private readonly log: Logger,
    { shared = false }: Sharing = {},
  ) {
    this.shared = shared;
    if (existsSync(this.file)) this.data = this.parse(() => readFileSync(this.file, 'utf8')) ?? this.data;
  }

  agentJobs(): readonly Job[] {
    return this.current().jobs;
  }

  /** Adds or replaces (by id) an agent job; saved before it returns. */
  put(job: Job): void {
    this.update((data) => {
      const at = data.jobs.findIndex((j) => j.id === job.id);
      const jobs = [...data.jobs];
      if (at >= 0) jobs[at] = job;
      else jobs.push(job);
      return { ...data, jobs };
    });
  }

  remove(id: string): void {
    this.update((data) => ({ ...data, jobs: data.jobs.filter((j) => j.id !== id) }));
  }

  /** Records the latest due time handled of an agent job, unless the job was deleted meanwhile. */
  recordDue(id: string, due: number): void {
    this.update((data) => (data.jobs.some((j) => j.id === id) ? { ...data, jobs: data.jobs.map((j) => (j.id === id ? { ...j, lastDue: due } : j)) } : undefined));
  }

  fileState(name: string): FileJobState | undefined {
    return this.current().files[name];
  }

  /**
   * Records a file job's progress: `since` stays what it was first recorded as, `lastDue` only goes
   * forward. Kept in memory even when the disk refuses it (then it throws): a job's progress must
   * not go back while the daemon runs.
   */
  setFileState(name: string, state: FileJobState): void {
    this.update((data) => {
      const known = data.files[name];
      const lastDue = Math.max(known?.lastDue ?? -Infinity, state.lastDue ?? -Infinity);
      const next = { since: known?.since ?? state.since, ...(lastDue > -Infinity ? { lastDue } : {}) };
      return { ...data, files: { ...data.files, [name]: next } };
    }, true);
  }

  /** Forgets the state of files that are gone, so a file made again later starts afresh. */
  keepFiles(names: ReadonlySet<string>): void {
    if (Object.keys(this.current().files).every((name) => names.has(name))) return;
    this.update((data) => {
      if (Object.keys(data.files).every((name) => names.has(name))) return undefined;
      return { ...data, files: Object.fromEntries(Object.entries(data.files).filter(([name]) => names.has(name))) };
    });
  }

  /** The state as this process knows it; shared, as another process left it when it changed the file since. */
  private current(): StoreData {
    if (!this.shared) return this.data;
    let text: string | undefined;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      // unreadable for now (permissions, I/O): the view stays; a write reports the trouble
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return this.data;
    }
    if (text !== this.text) {
      this.text = text;
      this.data = text === undefined ? emptyStore() : (this.parse(() => text) ?? this.data);
    }
    return this.data;
  }

  /**
   * Applies `change` (undefined: nothing to change) to the state and saves it; shared, to the state
   * on disk, under the file lock. `keep`: in memory even when the disk refuses it.
   */
  private update(change: (data: StoreData) => StoreData | undefined, keep = false): void {
    const apply = () => {
      const next = change(this.shared ? this.fresh() : this.data);
      if (next === undefined) return;
      if (keep) this.data = next;
      this.save(next);
    };
    if (this.shared) withFileLock(this.file, apply);
    else apply();
  }

  /** The file as it is now (under the lock), else this process's view when it cannot be read. */
  private fresh(): StoreData {
    this.text = null;
    return this.current();
  }

  /** In memory only once the disk took it: a failed write leaves the state as it was, and throws a StorageError. */
  private save(next: StoreData): void {
    const text = `${JSON.stringify(next)}\n`;
    try {
      writeFileAtomic(this.file, text);
    } catch (err) {
      throw storageError(err, 'the schedules file', this.file);
    }
    this.data = next;
    if (this.shared) this.text = text;
  }

  /** The state in the file's text; undefined when it is unreadable (the file is then moved aside). */
  private parse(text: () => string): StoreData | undefined {
    try {
      return storeSchema.parse(JSON.parse(text()));
    } catch (err) {
      // kept aside for the owner to look at; the daemon goes on with no agent jobs rather than not starting
      const aside = `${this.file}.unreadable-${Date.now()}`;
      try {
        renameSync(this.file, aside);
      } catch {
        // the next save replaces it
      }
      this.log.error({ err, file: this.file, movedTo: aside }, 'the schedules file is unreadable: moved aside; the jobs the agent made are not loaded');
      return undefined;
    }
  }
}

function emptyStore(): StoreData {
  return { version: 1, jobs: [], files: {} };
}
