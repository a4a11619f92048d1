import type { Actor } from '../core/actor.ts';
import { formatWallTime } from '../core/time-zone.ts';
import { describeJob } from '../schedules/job.ts';
import type { ScheduleBook } from '../schedules/schedule-book.ts';
import { parseCommand } from './commands.ts';
import type { MemoryFiles } from './memory.ts';

export interface PersonalCommandContext {
  actor: Actor;
  memory?: MemoryFiles;
  /** Undefined where no scheduler runs (the terminal chat). */
  schedules?: ScheduleBook;
}

/** /forget and /schedules: what the bot keeps about a person and for a chat. Undefined for any other text. */
export function runPersonalCommand(text: string, ctx: PersonalCommandContext): string | undefined {
  const parsed = parseCommand(text);
  if (parsed?.name === 'forget') return forget(ctx);
  if (parsed?.name === 'schedules') return schedules(parsed.args, ctx);
  return undefined;
}

function forget({ actor, memory }: PersonalCommandContext): string {
  const file = memory?.fileFor(actor);
  if (!memory || file === undefined) return 'Use /forget in a private chat with me: what I remember about you is kept for our private chat only, and shown there.';
  const forgotten = memory.forget(file);
  const history = 'Our conversation itself is still here: /clear starts a fresh one.';
  if (forgotten === undefined) return `I had nothing saved about you. ${history}`;
  return `I forgot everything I had saved about you. It was:\n\n${forgotten.trim()}\n\n${history}`;
}

function schedules(args: string, { actor, schedules: book }: PersonalCommandContext): string {
  if (!book) return 'Scheduled jobs run in the daemon (npm start), not here.';
  const [verb, id] = args.split(/\s+/);
  if (verb === 'delete' || verb === 'remove') {
    if (!id) return 'Which one? /schedules delete <id> (the ids are in /schedules).';
    try {
      return `Deleted ${book.remove(id, actor).id}.`;
    } catch (err) {
      return `Could not delete it: ${(err as Error).message}.`;
    }
  }
  if (verb) return 'Use /schedules to list the jobs of this chat, and /schedules delete <id> to delete one.';
  const now = book.now();
  const jobs = book.visibleTo(actor);
  const zone = book.timeZoneOf({});
  const header = `Now: ${formatWallTime(now, zone)} (${zone}).`;
  if (jobs.length === 0) return `${header}\nNo scheduled jobs here. Ask me to remind you of something, or to do something every week.`;
  return [header, 'Scheduled jobs:', ...jobs.map((job) => `• ${describeJob(job, book.timeZoneOf(job), now)}`), '', '/schedules delete <id> deletes one.'].join('\n');
}
