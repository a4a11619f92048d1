import type { Daemon } from './daemon.ts';

/** The base URL of the daemon's HTTP server (server.http_port: 0 picks a free port, which the daemon logs). */
export async function httpBase(daemon: Daemon): Promise<string> {
  const line = await daemon.waitForLog('HTTP server listening');
  return `http://127.0.0.1:${line.port as number}`;
}

/** GET a path; the status and the body as text. */
export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; type: string }> {
  const res = await fetch(url, { headers });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' };
}
