import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { ChannelStatus } from '../channels/channel.ts';
import type { BusStats } from '../core/bus.ts';
import type { SchedulerStatus } from '../schedules/scheduler-worker.ts';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { workspacePaths } from '../config/workspace.ts';
import { lockHolder } from './lock.ts';

/** What `npm run status` shows; the daemon rewrites it in its workspace every few seconds. */
export interface StatusSnapshot {
  pid: number;
  startedAt: number;
  updatedAt: number;
  channels: Record<string, ChannelStatus>;
  bus: BusStats;
  /** Outbound events not yet accepted by their platform. */
  repliesWaiting: number;
  /** V8's heap in use, and server.max_heap_mb (0: no limit). */
  heap?: { usedMb: number; limitMb: number };
  /** Where /healthz and /metrics are served (server.http_port). */
  http?: { host: string; port: number };
  sessionsActiveLastHour: number;
  llmErrorsLastHour: number;
  /** The next due times of the scheduled jobs. */
  schedules?: SchedulerStatus;
}

export const STATUS_INTERVAL_MS = 2000;

export function writeStatus(file: string, snapshot: StatusSnapshot): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(snapshot), { mode: 0o600 });
  renameSync(tmp, file);
}

export function readStatus(file: string): StatusSnapshot | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StatusSnapshot;
  } catch {
    return undefined;
  }
}

export function formatStatus(snapshot: StatusSnapshot | undefined, running: boolean, now = Date.now()): string {
  if (!snapshot || !running) return 'mybot is not running on this workspace.';
  const stale = now - snapshot.updatedAt > 5 * STATUS_INTERVAL_MS;
  const lines = [
    `mybot is running (pid ${snapshot.pid}), up ${formatDuration(now - snapshot.startedAt)}${stale ? `; status last updated ${formatDuration(now - snapshot.updatedAt)} ago (busy or stuck?)` : ''}`,
    ...Object.entries(snapshot.channels).map(([name, s]) => `  ${name}: ${s.state}${s.lastError ? ` (last error: ${s.lastError})` : ''}`),
    `  sessions active in the last hour: ${snapshot.sessionsActiveLastHour}; answering now: ${snapshot.bus.activeSessions}`,
    `  bus queue depth: ${snapshot.bus.queued}; unacknowledged events: ${snapshot.bus.unacked}`,
    `  replies waiting for delivery: ${snapshot.repliesWaiting}; given up on (.mybot/dead-letters.jsonl): ${snapshot.bus.deadLetters ?? 0}`,
    `  LLM errors in the last hour: ${snapshot.llmErrorsLastHour}`,
    ...(snapshot.http ? [`  HTTP: http://${snapshot.http.host.includes(':') ? `[${snapshot.http.host}]` : snapshot.http.host}:${snapshot.http.port}/healthz and /metrics`] : []),
    ...(snapshot.heap ? [`  heap in use: ${snapshot.heap.usedMb} MB${snapshot.heap.limitMb > 0 ? ` (server.max_heap_mb: ${snapshot.heap.limitMb})` : ''}`] : []),
    ...scheduleLines(snapshot.schedules, now),
  ];
  return lines.join('\n');
}

function scheduleLines(schedules: SchedulerStatus | undefined, now: number): string[] {
  if (!schedules) return [];
  if (schedules.next.length === 0) return ['  scheduled jobs: none'];
  return [
    '  next scheduled jobs:',
    ...schedules.next.map(({ job, dueAt, sessionId, what }) => `    ${new Date(dueAt).toISOString().replace(/\.\d{3}Z$/, 'Z')} (${dueAt <= now ? 'due now' : `in ${formatDuration(dueAt - now)}`})  ${job} in ${sessionId}: ${what}`),
  ];
}

function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/**
 * `npm run status`: prints the report; the exit code is 0 when the daemon runs, 3 when it does not.
 * With bus.backend redis, every process of the deployment, from Redis.
 */
export async function printStatus(workspace: string): Promise<number> {
  const paths = workspacePaths(workspace);
  const running = lockHolder(paths.pidFile) !== undefined;
  const config = configOf(workspace);
  if (config?.bus.backend === 'redis') {
    const { deploymentStatus } = await import('./deployment-status.ts');
    const deployment = await deploymentStatus(config);
    const gateway = running ? `${formatStatus(readStatus(paths.statusFile), running)}\n` : '';
    process.stdout.write(`${gateway}${deployment.text}\n`);
    return deployment.running ? 0 : 3;
  }
  process.stdout.write(`${formatStatus(readStatus(paths.statusFile), running)}\n`);
  return running ? 0 : 3;
}

/** The workspace's config, if it loads: status works without one too. */
function configOf(workspace: string): Config | undefined {
  try {
    return loadConfig(workspace);
  } catch {
    return undefined;
  }
}
