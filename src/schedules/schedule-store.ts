import { existsSync, readFileSync, renameSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { storageError } from '../core/errors.ts';
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
 * `.mybot/schedules.json`: the agent's jobs and how far every job got. Only the daemon writes it,
 * atomically after each change. A firing is recorded here after its event is journaled: a crash
 * between the two fires the same due time again at the next start, under the same event id, which
 * the journal refuses as a duplicate.
 */
export class ScheduleStore {
  private data: StoreData = { version: 1, jobs: [], files: {} };

  constructor(
    readonly file: string,
    private readonly log: Logger,
  ) {
    this.load();
  }

  agentJobs(): readonly Job[] {
    return this.data.jobs;
  }

  /** Adds or replaces (by id) an agent job; saved before it returns. */
  put(job: Job): void {
    const at = this.data.jobs.findIndex((j) => j.id === job.id);
    const jobs = [...this.data.jobs];
    if (at >= 0) jobs[at] = job;
    else jobs.push(job);
    this.save({ ...this.data, jobs });
  }

  remove(id: string): void {
    this.save({ ...this.data, jobs: this.data.jobs.filter((j) => j.id !== id) });
  }

  fileState(name: string): FileJobState | undefined {
    return this.data.files[name];
  }

  /** Kept in memory even when the disk refuses it (then it throws): a job's progress must not go back while the daemon runs. */
  setFileState(name: string, state: FileJobState): void {
    const next = { ...this.data, files: { ...this.data.files, [name]: state } };
    this.data = next;
    this.save(next);
  }

  /** Forgets the state of files that are gone, so a file made again later starts afresh. */
  keepFiles(names: ReadonlySet<string>): void {
    const gone = Object.keys(this.data.files).filter((name) => !names.has(name));
    if (gone.length === 0) return;
    this.save({ ...this.data, files: Object.fromEntries(Object.entries(this.data.files).filter(([name]) => names.has(name))) });
  }

  /** In memory only once the disk took it: a failed write leaves the state as it was, and throws a StorageError. */
  private save(next: StoreData): void {
    try {
      writeFileAtomic(this.file, `${JSON.stringify(next)}\n`);
    } catch (err) {
      throw storageError(err, 'the schedules file', this.file);
    }
    this.data = next;
  }

  private load(): void {
    if (!existsSync(this.file)) return;
    try {
      this.data = storeSchema.parse(JSON.parse(readFileSync(this.file, 'utf8')));
    } catch (err) {
      // kept aside for the owner to look at; the daemon goes on with no agent jobs rather than not starting
      const aside = `${this.file}.unreadable-${Date.now()}`;
      try {
        renameSync(this.file, aside);
      } catch {
        // the next save replaces it
      }
      this.log.error({ err, file: this.file, movedTo: aside }, 'the schedules file is unreadable: moved aside; the jobs the agent made are not loaded');
    }
  }
}
