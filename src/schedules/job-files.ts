import { join } from 'node:path';
import { z } from 'zod';
import { FileCatalogue } from '../core/file-catalogue.ts';
import { splitFrontMatter } from '../core/front-matter.ts';
import { isTimeZone } from '../core/time-zone.ts';
import type { Logger } from '../log.ts';
import { targetOf, type JobTarget } from './target.ts';
import { cronOf, resolveAt } from './times.ts';

/** A job an owner wrote as `schedules/<name>.md`. */
export interface FileJob extends JobTarget {
  name: string;
  cron?: string;
  /** An ISO time, read in the job's time zone when it has no offset (the zone can change with agent.timezone). */
  at?: string;
  timezone?: string;
  enabled: boolean;
  instruction: string;
  file: string;
}

const MAX_FILE_BYTES = 20_000;
const NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

const frontMatterSchema = z
  .strictObject({
    cron: z.string().optional(),
    // YAML reads an unquoted 2030-01-07 as a string here (core schema); a Date only if tagged
    at: z.union([z.string(), z.date().transform((d) => d.toISOString())]).optional(),
    timezone: z.string().refine(isTimeZone, { error: 'timezone must be an IANA time zone name such as Europe/Berlin' }).optional(),
    session: z.string().optional(),
    chat: z.string().optional(),
    enabled: z.boolean().default(true),
  })
  .refine((f) => (f.cron === undefined) !== (f.at === undefined), { error: 'give either cron: (recurring) or at: (once), not both or neither' })
  .refine((f) => (f.session === undefined) !== (f.chat === undefined), { error: 'give the chat it runs in as session: or chat:, like telegram:123456789' });

/** Parses a schedules/<name>.md; throws an Error whose message says what to fix. */
export function parseJobFile(text: string, entry: string, file: string): FileJob {
  const name = entry.slice(0, -'.md'.length);
  if (!NAME.test(name)) throw new Error(`its name '${name}' must be lowercase letters, digits and single hyphens, like weekly-summary.md`);
  const { data, body } = splitFrontMatter(text, 'cron: or at:, and session: or chat:');
  const parsed = frontMatterSchema.safeParse(data ?? {});
  if (!parsed.success) throw new Error(`its front matter is invalid: ${z.prettifyError(parsed.error).replace(/\n\s*/g, ' ')}`);
  const { cron, at, timezone, session, chat, enabled } = parsed.data;
  if (!body) throw new Error('it has no instruction after the front matter: write what the bot should do when it runs');
  // checked now, so a mistake is reported when the file is saved, not when it would have run
  if (cron !== undefined) cronOf(cron, timezone ?? 'UTC');
  if (at !== undefined) {
    if (/^in\s/i.test(at.trim())) throw new Error(`at: '${at}' is relative; a file needs a date and time, like 2030-01-07T09:00`);
    resolveAt(at, 0, timezone ?? 'UTC');
  }
  return { name, ...targetOf(session ?? chat!), ...(cron !== undefined ? { cron } : {}), ...(at !== undefined ? { at } : {}), ...(timezone ? { timezone } : {}), enabled, instruction: body, file };
}

/** The `schedules/` folder of the workspace, re-read when a file changes (see FileCatalogue). */
export function jobFiles(dir: string, log: Logger): FileCatalogue<FileJob> {
  return new FileCatalogue({
    dir,
    fileOf: (entry) => (entry.endsWith('.md') ? join(dir, entry) : undefined),
    parse: parseJobFile,
    maxBytes: MAX_FILE_BYTES,
    tooBig: 'keep the instruction short, and put long material in a file it names',
    what: 'schedule',
    log,
  });
}
