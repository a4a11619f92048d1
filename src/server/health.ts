import type { ChannelStatus } from '../channels/channel.ts';
import { redactSecrets } from '../log.ts';

export interface Health {
  ok: boolean;
  body: {
    status: 'ok' | 'unavailable';
    bus: 'running' | 'stopped';
    channels: Record<string, ChannelStatus>;
    /** What is not as it should be, in words: empty when ok. */
    problems: string[];
  };
}

/** /healthz: the bus runs and every enabled channel is connected; the same truth as `npm run status`. */
export function healthOf(busRunning: boolean, channels: Record<string, ChannelStatus>, busProblem?: string): Health {
  const problems = [
    ...(busRunning ? [] : ['the bus is not running (starting or stopping)']),
    ...(busProblem ? [busProblem] : []),
    ...Object.entries(channels)
      .filter(([, status]) => status.state !== 'connected')
      .map(([name, status]) => `${name} is ${status.state}${status.lastError ? `: ${redactSecrets(status.lastError)}` : ''}`),
  ];
  const ok = problems.length === 0;
  const shown = Object.fromEntries(Object.entries(channels).map(([name, status]) => [name, status.lastError ? { ...status, lastError: redactSecrets(status.lastError) } : status]));
  return { ok, body: { status: ok ? 'ok' : 'unavailable', bus: busRunning ? 'running' : 'stopped', channels: shown, problems } };
}
