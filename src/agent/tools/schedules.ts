import { z } from 'zod';
import type { Actor } from '../../core/actor.ts';
import { ToolError } from '../../core/errors.ts';
import { formatWallTime } from '../../core/time-zone.ts';
import { describeJob, describeWhen } from '../../schedules/job.ts';
import type { ScheduleBook } from '../../schedules/schedule-book.ts';
import { defineTool, type Tool } from './tool.ts';

/** schedule_create, schedule_list and schedule_delete: jobs in the chat of the turn (an owner may name another). */
export function scheduleTools(book: ScheduleBook): Tool[] {
  const actorOf = (actor: Actor | undefined): Actor => {
    if (!actor) throw new ToolError('schedules are not available here');
    return actor;
  };
  const clock = (timeZone: string) => `It is now ${formatWallTime(book.now(), timeZone)} (${timeZone}).`;
  return [
    defineTool({
      name: 'schedule_create',
      description:
        'Schedule a task in this chat: a reminder or a recurring job. When it is due you get `instruction` as a message and answer it here. `at` for once: "in 20 minutes" or a local time like 2030-01-07T09:00; or `cron` for recurring: 5 fields, e.g. "0 9 * * 1" for Mondays at 9:00, at most every 5 minutes. Times are in `timezone` (IANA), by default the bot\'s; schedule_list tells the current time.',
      schema: z.object({
        instruction: z.string().min(1),
        at: z.string().min(1).optional(),
        cron: z.string().min(1).optional(),
        timezone: z.string().min(1).optional(),
        chat: z.string().min(1).optional().describe('owners only: another chat, as /session shows it (telegram:123456789)'),
      }),
      async run(args, _signal, actor) {
        let job;
        try {
          job = book.create(args, actorOf(actor));
        } catch (err) {
          throw new ToolError((err as Error).message);
        }
        const timeZone = book.timeZoneOf(job);
        return `Scheduled ${job.id}: ${describeWhen(job, timeZone)}, in ${job.sessionId}. ${clock(timeZone)} It can be deleted with schedule_delete or /schedules delete ${job.id}.`;
      },
    }),
    defineTool({
      name: 'schedule_list',
      description: "List this chat's scheduled jobs (ids, times, tasks) and the current date and time.",
      schema: z.object({}),
      async run(_args, _signal, actor) {
        const jobs = book.visibleTo(actorOf(actor));
        const timeZone = book.timeZoneOf({});
        const lines = jobs.map((job) => `- ${describeJob(job, book.timeZoneOf(job), book.now())}`);
        return [clock(timeZone), jobs.length === 0 ? 'No scheduled jobs here.' : `Scheduled jobs:\n${lines.join('\n')}`].join('\n');
      },
    }),
    defineTool({
      name: 'schedule_delete',
      description: 'Delete a scheduled job of this chat by its id.',
      schema: z.object({ id: z.string().min(1) }),
      async run({ id }, _signal, actor) {
        try {
          const job = book.remove(id, actorOf(actor));
          return `Deleted ${job.id}.`;
        } catch (err) {
          throw new ToolError((err as Error).message);
        }
      },
    }),
  ];
}
