import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusSnapshot } from '../../src/server/status.ts';
import type { FakeReply, FakeRequest } from '../fakes/openai.ts';
import type { Daemon } from './daemon.ts';
import { waitFor } from './wait.ts';

/** What the daemon last wrote to .mybot/status.json (what `npm run status` prints). */
export function statusOf(daemon: Daemon): StatusSnapshot | undefined {
  try {
    return JSON.parse(readFileSync(join(daemon.workspace, '.mybot', 'status.json'), 'utf8')) as StatusSnapshot;
  } catch {
    return undefined;
  }
}

/**
 * Waits until the scheduler has looked at its jobs at a daemon time of `at` or later (the status
 * file says when it last did): what was due by then has been published.
 */
export async function waitChecked(daemon: Daemon, at: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(() => (statusOf(daemon)?.schedules?.checkedAt ?? 0) >= at, timeoutMs, `the scheduler to check its jobs at ${new Date(at).toISOString()}`);
}

/** The text of the last user message a request carries. */
export function lastUserText(request: FakeRequest): string {
  const user = [...request.messages].reverse().find((m) => m?.role === 'user');
  return typeof user?.content === 'string' ? user.content : '';
}

export const SCHEDULED_MARK = '[Scheduled task ';

/** The fake LLM's answer to a fired job: `Reminder: <its task>`; anything else is echoed. */
export function remindOrEcho(request: FakeRequest): FakeReply {
  const text = lastUserText(request);
  if (!text.startsWith(SCHEDULED_MARK)) return { content: `echo: ${text}` };
  return { content: `Reminder: ${/^Task: (.*)$/m.exec(text)?.[1] ?? '?'}` };
}

/** The 'scheduled job fired' log lines for a job. */
export function firings(daemon: Daemon, jobId: string) {
  return daemon.lines.filter((l) => l.msg === 'scheduled job fired' && l.jobId === jobId);
}
