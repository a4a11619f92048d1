import { z } from 'zod';
import { formatWallTime } from '../core/time-zone.ts';
import { nextRun, runsBetween } from './times.ts';

const sourceSchema = z.object({
  channel: z.string(),
  chatId: z.string(),
  userId: z.string().optional(),
  threadId: z.string().optional(),
  chatType: z.enum(['private', 'group']).optional(),
});

/** A scheduled job, as `.mybot/schedules.json` keeps the agent's and as `schedules/<name>.md` describes an owner's. */
export const jobSchema = z.object({
  /** Agent jobs: a short random id; file jobs: `file:<name>`. */
  id: z.string(),
  origin: z.enum(['agent', 'file']),
  /** What the agent is asked to do when the job fires. */
  instruction: z.string(),
  /** A 5-field cron expression (recurring), or… */
  cron: z.string().optional(),
  /** …the one time it is due (ms since epoch). */
  at: z.number().optional(),
  /** Set by whoever made the job; else agent.timezone, else the machine's. */
  timezone: z.string().optional(),
  sessionId: z.string(),
  /** Where the turn runs and the answer goes; `userId` is who the turn is on behalf of (limits, memory). */
  target: sourceSchema,
  enabled: z.boolean(),
  /** An owner made it: no limit on how often it runs or how many a chat has. */
  byOwner: z.boolean(),
  /** `telegram:<user id>`, for agent jobs. */
  createdBy: z.string().optional(),
  /** Due times before this are not the job's: a new job never fires for a time before it existed. */
  since: z.number(),
  /** The latest due time handled: fired, or logged as missed. */
  lastDue: z.number().optional(),
});
export type Job = z.infer<typeof jobSchema>;

/** Where a job stands at `now`. */
export type DueState =
  /** Nothing due; `next` is the coming due time, if any. */
  | { kind: 'waiting'; next?: number }
  /** `due` should fire now; `superseded` earlier due times passed unhandled (while the daemon was down) and are only reported. */
  | { kind: 'due'; due: number; superseded: number; late: number };

/** The due time to handle at `now`, if any: only the latest one, however many passed since the last. */
export function dueState(job: Job, timeZone: string, now: number): DueState {
  const after = Math.max(job.since, job.lastDue ?? Number.NEGATIVE_INFINITY);
  if (job.at !== undefined) {
    if (job.lastDue !== undefined && job.lastDue >= job.at) return { kind: 'waiting' };
    return job.at <= now ? { kind: 'due', due: job.at, superseded: 0, late: now - job.at } : { kind: 'waiting', next: job.at };
  }
  if (job.cron === undefined) return { kind: 'waiting' };
  const { latest, earlier } = runsBetween(job.cron, timeZone, after, now);
  if (latest !== undefined) return { kind: 'due', due: latest, superseded: earlier, late: now - latest };
  const next = nextRun(job.cron, timeZone, Math.max(after, now));
  return next === undefined ? { kind: 'waiting' } : { kind: 'waiting', next };
}

/** `every "0 9 * * 1" (Europe/Berlin)` or `once at Mon 2030-01-07 09:00 (Europe/Berlin)`. */
export function describeWhen(job: Job, timeZone: string): string {
  return job.cron !== undefined ? `every "${job.cron}" (${timeZone})` : `once at ${formatWallTime(job.at ?? 0, timeZone)} (${timeZone})`;
}

/** What a person reads about a job: its id, when it runs, where, and what it does. */
export function describeJob(job: Job, timeZone: string, now: number): string {
  const state = job.enabled ? dueState(job, timeZone, now) : undefined;
  const next = state?.kind === 'waiting' && state.next !== undefined ? `; next ${formatWallTime(state.next, timeZone)}` : '';
  const off = job.enabled ? '' : ' [disabled]';
  const name = job.origin === 'file' ? `${job.id} (schedules/${job.id.slice('file:'.length)}.md)` : job.id;
  return `${name}: ${describeWhen(job, timeZone)}${next}${off}, in ${job.sessionId}: ${excerpt(job.instruction)}`;
}

export function excerpt(text: string, max = 80): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
