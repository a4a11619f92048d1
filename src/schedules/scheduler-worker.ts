import type { Config } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import { createEvent, type InboundEvent } from '../core/events.ts';
import { formatWallTime } from '../core/time-zone.ts';
import type { Worker } from '../core/worker.ts';
import type { Logger } from '../log.ts';
import { dueState, excerpt, type DueState, type Job } from './job.ts';
import type { ScheduleBook } from './schedule-book.ts';

/**
 * How often the jobs are looked at again even when none is due sooner: schedules/ edits apply
 * within it, and a clock that jumped (a machine waking up) is noticed within it.
 */
const RECHECK_MS = 1_000;
/** A due time that passed while the daemon ran is fired even when this late (a busy event loop), whatever schedules.catch_up_s says. */
const LATE_WHILE_RUNNING_MS = 60_000;
const STATUS_JOBS = 5;

export interface SchedulerStatus {
  /** When the jobs were last looked at (the daemon's clock). */
  checkedAt?: number;
  next: Array<{ job: string; dueAt: number; sessionId: string; what: string }>;
}

export interface SchedulerDeps {
  book: ScheduleBook;
  /** The bus's publish: resolves once the event is journaled, false when its id was there already. */
  publish: (event: InboundEvent) => Promise<boolean>;
  clock: Clock;
  config: () => Config;
  log: Logger;
}

/**
 * Publishes an InboundEvent into a job's session when it is due; the agent answers it like a
 * message. Exactly once per due time: the event id is `schedule:<job>:<due time>`, so the journal
 * refuses a second publish of it (after a crash before the book recorded the firing), and the book
 * records the latest due time handled. At start, a due time missed while the daemon was down fires
 * if it is less than schedules.catch_up_s late, else it is logged as missed; of several missed due
 * times of one job, only the latest is considered.
 */
export class SchedulerWorker implements Worker {
  readonly name = 'scheduler';
  private cancelTimer?: () => void;
  private checking?: Promise<void>;
  private stopped = false;
  private startedAt = 0;
  private checkedAt?: number;
  private nextDue?: number;
  /** Due times handled in this run whose record the disk did not take: not fired again until a restart. */
  private readonly handledHere = new Map<string, number>();
  /**
   * Per job, its next due time as the last check worked it out, and what from: until then, or until
   * the job changes, a check costs a comparison instead of the cron arithmetic (~tens of µs a job).
   */
  private waiting = new Map<string, { key: string; next?: number }>();
  private upcoming: SchedulerStatus['next'] = [];

  constructor(private readonly deps: SchedulerDeps) {}

  async start(): Promise<void> {
    this.stopped = false;
    this.startedAt = this.deps.clock.now();
    await this.check();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    await this.checking;
  }

  /** As of the last check, at most a second ago. */
  status(): SchedulerStatus {
    return { ...(this.checkedAt !== undefined ? { checkedAt: this.checkedAt } : {}), next: this.upcoming };
  }

  private check(): Promise<void> {
    this.checking ??= this.checkJobs()
      .catch((err: unknown) => this.deps.log.error({ err }, 'checking the scheduled jobs failed; trying again in a second'))
      .finally(() => {
        this.checking = undefined;
        this.arm();
      });
    return this.checking;
  }

  private arm(): void {
    if (this.stopped) return;
    this.cancelTimer?.();
    const untilDue = this.nextDue === undefined ? RECHECK_MS : this.nextDue - this.deps.clock.now();
    this.cancelTimer = this.deps.clock.setTimer(() => void this.check(), Math.max(0, Math.min(RECHECK_MS, untilDue)));
  }

  private async checkJobs(): Promise<void> {
    const { book, clock, log } = this.deps;
    const now = clock.now();
    let nextDue: number | undefined;
    const waiting = new Map<string, { key: string; next?: number }>();
    const upcoming: SchedulerStatus['next'] = [];
    for (const job of book.jobs()) {
      if (this.stopped) return;
      if (!job.enabled) continue;
      const timeZone = book.timeZoneOf(job);
      const handled = this.handledHere.get(job.id);
      const current = handled === undefined ? job : { ...job, lastDue: Math.max(handled, job.lastDue ?? handled) };
      const key = JSON.stringify([current.cron, current.at, timeZone, current.since, current.lastDue]);
      const known = this.waiting.get(job.id);
      let state: DueState;
      if (known?.key === key && (known.next === undefined || known.next > now)) {
        state = known.next === undefined ? { kind: 'waiting' } : { kind: 'waiting', next: known.next };
      } else {
        try {
          state = dueState(current, timeZone, now);
        } catch (err) {
          log.warn({ err, jobId: job.id }, 'scheduled job skipped: its time cannot be worked out');
          continue;
        }
      }
      if (state.kind === 'waiting') {
        waiting.set(job.id, { key, ...(state.next !== undefined ? { next: state.next } : {}) });
        if (state.next === undefined) continue;
        nextDue = Math.min(nextDue ?? state.next, state.next);
        upcoming.push({ job: job.id, dueAt: state.next, sessionId: job.sessionId, what: excerpt(job.instruction, 60) });
        continue;
      }
      await this.handle(job, state.due, state.superseded, now, timeZone);
    }
    this.waiting = waiting;
    this.upcoming = upcoming.sort((a, b) => a.dueAt - b.dueAt).slice(0, STATUS_JOBS);
    this.nextDue = nextDue;
    this.checkedAt = now;
  }

  private async handle(job: Job, due: number, superseded: number, now: number, timeZone: string): Promise<void> {
    const { log, config } = this.deps;
    const late = now - due;
    const fields = { jobId: job.id, sessionId: job.sessionId, dueAt: new Date(due).toISOString() };
    if (superseded > 0) log.warn({ ...fields, missed: superseded }, 'scheduled job missed: earlier due times passed while the daemon was down; only the latest is handled');
    const catchUpMs = config().schedules.catch_up_s * 1000;
    if (late > catchUpMs && !(due >= this.startedAt && late <= LATE_WHILE_RUNNING_MS)) {
      log.warn({ ...fields, lateS: Math.round(late / 1000), catchUpS: config().schedules.catch_up_s }, 'scheduled job missed: due while the daemon was down, longer ago than schedules.catch_up_s');
      this.record(job, due);
      return;
    }
    const event = createEvent<InboundEvent>({
      id: `schedule:${job.id}:${fields.dueAt}`,
      type: 'inbound',
      sessionId: job.sessionId,
      source: job.target,
      content: scheduledContent(job, due, timeZone),
      retryCount: 0,
      scheduled: { job: job.id, dueAt: due },
    });
    const fresh = await this.deps.publish(event);
    log.info({ ...fields, eventId: event.id, lateMs: late }, fresh ? 'scheduled job fired' : 'scheduled job had fired already: its event is in the journal');
    this.record(job, due);
  }

  private record(job: Job, due: number): void {
    try {
      this.deps.book.handled(job, due);
      this.handledHere.delete(job.id);
    } catch (err) {
      this.handledHere.set(job.id, due);
      this.deps.log.error({ err, jobId: job.id }, 'could not record a scheduled job as handled; the journal keeps it from firing twice');
    }
  }
}

/** What the agent reads when a job fires: that it is a task, not a person's message, and what to do. */
export function scheduledContent(job: Job, due: number, timeZone: string): string {
  return [
    `[Scheduled task ${job.id}, due ${formatWallTime(due, timeZone)} (${timeZone})]`,
    'This comes from a schedule set up earlier, not from a person writing now: do the task below and write your answer for this chat. For a reminder, remind them in a sentence or two.',
    `Task: ${job.instruction}`,
  ].join('\n');
}
