import { randomInt } from 'node:crypto';
import type { Config } from '../config/schema.ts';
import type { Actor } from '../core/actor.ts';
import type { Clock } from '../core/clock.ts';
import type { EventSource } from '../core/events.ts';
import type { FileCatalogue } from '../core/file-catalogue.ts';
import { formatWallTime, isTimeZone, machineTimeZone } from '../core/time-zone.ts';
import type { Logger } from '../log.ts';
import { describeWhen, type Job } from './job.ts';
import type { FileJob } from './job-files.ts';
import type { ScheduleStore } from './schedule-store.ts';
import { targetOf } from './target.ts';
import { cronOf, resolveAt, shortestGapMs } from './times.ts';

export interface JobRequest {
  instruction: string;
  at?: string;
  cron?: string;
  timezone?: string;
  /** Another chat than the actor's (owners only), as /session shows it. */
  chat?: string;
}

const ID_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const MIN_GAP_MS = 5 * 60_000;
const MAX_INSTRUCTION_CHARS = 2000;
const FILE_PREFIX = 'file:';

export interface ScheduleBookDeps {
  store: ScheduleStore;
  files: FileCatalogue<FileJob>;
  config: () => Config;
  clock: Clock;
  log: Logger;
}

/**
 * Every scheduled job: the agent's (kept in the store) and the owner's files in schedules/. The
 * rules for making and removing one live here, for the tools and /schedules alike.
 */
export class ScheduleBook {
  constructor(private readonly deps: ScheduleBookDeps) {}

  now(): number {
    return this.deps.clock.now();
  }

  /** All jobs, the files looked at again. */
  jobs(): Job[] {
    const { files, store } = this.deps;
    if (files.refresh()) this.deps.log.info({ schedules: files.values().map(([entry]) => entry) }, 'schedule files loaded');
    const fileJobs = files.values().map(([, file]) => this.fromFile(file));
    // a file that does not parse right now keeps its state: fixed, it goes on where it was
    store.keepFiles(new Set(files.names().map((entry) => entry.replace(/\.md$/, ''))));
    return [...store.agentJobs(), ...fileJobs];
  }

  /** The job's own time zone, else agent.timezone, else the machine's. */
  timeZoneOf(job: Pick<Job, 'timezone'>): string {
    return job.timezone ?? this.deps.config().agent.timezone ?? machineTimeZone();
  }

  /** The jobs an actor may see: those of their chat; an owner in a private chat sees all. */
  visibleTo(actor: Actor): Job[] {
    const all = this.jobs();
    return actor.owner && actor.source.chatType === 'private' ? all : all.filter((j) => j.sessionId === actor.sessionId);
  }

  /** Makes an agent job, saved before it returns; throws an Error saying why it cannot be made. */
  create(request: JobRequest, actor: Actor): Job {
    const { store, clock, config } = this.deps;
    const now = clock.now();
    const instruction = request.instruction.trim();
    if (!instruction) throw new Error('the instruction is empty: say what to do when the job runs');
    if (instruction.length > MAX_INSTRUCTION_CHARS) throw new Error(`the instruction is ${instruction.length} characters; at most ${MAX_INSTRUCTION_CHARS}`);
    if ((request.at === undefined) === (request.cron === undefined)) throw new Error('give either at (once) or cron (recurring), not both or neither');
    if (request.timezone !== undefined && !isTimeZone(request.timezone)) throw new Error(`'${request.timezone}' is not a time zone: use an IANA name such as Europe/Berlin`);
    if (request.chat !== undefined && !actor.owner) throw new Error('only an owner may schedule a job in another chat; this one goes to the chat it is made in');
    const where = request.chat !== undefined ? targetOf(request.chat) : { sessionId: actor.sessionId, target: targetHere(actor.source) };
    const timeZone = this.timeZoneOf(request);
    const when: Pick<Job, 'at' | 'cron'> = {};
    if (request.at !== undefined) {
      when.at = resolveAt(request.at, now, timeZone);
      if (when.at <= now) throw new Error(`${formatWallTime(when.at, timeZone)} (${timeZone}) has passed; it is ${formatWallTime(now, timeZone)} now`);
    } else {
      const cron = request.cron!.trim().split(/\s+/).join(' ');
      cronOf(cron, timeZone);
      if (!actor.owner && shortestGapMs(cron, timeZone, now) < MIN_GAP_MS) throw new Error(`'${cron}' runs more often than every 5 minutes, the most a job may`);
      when.cron = cron;
    }
    const max = config().schedules.max_per_chat;
    if (!actor.owner && this.jobs().filter((j) => j.sessionId === where.sessionId).length >= max) {
      throw new Error(`this chat already has ${max} scheduled jobs (schedules.max_per_chat): delete one first`);
    }
    const job: Job = {
      id: this.newId(),
      origin: 'agent',
      instruction,
      ...when,
      ...(request.timezone !== undefined ? { timezone: request.timezone } : {}),
      ...where,
      enabled: true,
      byOwner: actor.owner,
      ...(actor.source.userId !== undefined ? { createdBy: `${actor.source.channel}:${actor.source.userId}` } : {}),
      since: now,
    };
    store.put(job);
    this.deps.log.info({ jobId: job.id, sessionId: job.sessionId, when: describeWhen(job, timeZone), by: job.createdBy }, 'scheduled job created');
    return job;
  }

  /** Deletes an agent job the actor may delete; throws an Error saying why not. */
  remove(id: string, actor: Actor): Job {
    const job = this.visibleTo(actor).find((j) => j.id === id.trim());
    if (!job) throw new Error(`there is no job '${id}' in this chat: /schedules lists them`);
    if (job.origin === 'file') throw new Error(`${job.id} is the file schedules/${job.id.slice(FILE_PREFIX.length)}.md: an owner deletes it there, or sets enabled: false`);
    if (!actor.owner && job.createdBy !== `${actor.source.channel}:${actor.source.userId}`) throw new Error(`only the person who made ${job.id}, or an owner, may delete it`);
    this.deps.store.remove(job.id);
    this.deps.log.info({ jobId: job.id, sessionId: job.sessionId }, 'scheduled job deleted');
    return job;
  }

  /** Records that `due` was handled (fired or missed): a one-off agent job is then done and removed. */
  handled(job: Job, due: number): void {
    const { store } = this.deps;
    if (job.origin === 'file') {
      store.setFileState(job.id.slice(FILE_PREFIX.length), { since: job.since, lastDue: due });
    } else if (job.at !== undefined) {
      store.remove(job.id);
    } else {
      // not put(job): a job deleted while it fired (by a tool call, or in another process) stays deleted
      store.recordDue(job.id, due);
    }
  }

  private fromFile(file: FileJob): Job {
    const { store, clock } = this.deps;
    let state = store.fileState(file.name);
    if (!state) {
      // first seen now: a new file's job never fires for a time before the daemon saw it
      state = { since: clock.now() };
      try {
        store.setFileState(file.name, state);
      } catch (err) {
        this.deps.log.warn({ err, file: file.file }, 'could not record a new schedule file; it is seen as new again after a restart');
      }
    }
    const timeZone = this.timeZoneOf(file);
    return {
      id: `${FILE_PREFIX}${file.name}`,
      origin: 'file',
      instruction: file.instruction,
      ...(file.cron !== undefined ? { cron: file.cron } : {}),
      ...(file.at !== undefined ? { at: resolveAt(file.at, 0, timeZone) } : {}),
      ...(file.timezone !== undefined ? { timezone: file.timezone } : {}),
      sessionId: file.sessionId,
      target: file.target,
      enabled: file.enabled,
      byOwner: true,
      since: state.since,
      ...(state.lastDue !== undefined ? { lastDue: state.lastDue } : {}),
    };
  }

  private newId(): string {
    const taken = new Set(this.deps.store.agentJobs().map((j) => j.id));
    for (;;) {
      const id = Array.from({ length: 6 }, () => ID_ALPHABET[randomInt(ID_ALPHABET.length)]).join('');
      if (!taken.has(id)) return id;
    }
  }
}

/** The chat a message came from, as a place to post to later: not a reply to that message. */
function targetHere(source: EventSource): EventSource {
  const { messageId: _notAReply, ...target } = source;
  return target;
}
