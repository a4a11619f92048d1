import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACTED = '[REDACTED]';
const secrets = new Set<string>();

/**
 * Registers a secret (bot token, API key) so that no log line ever contains it, wherever it
 * hides: in a field, in an error message, in a URL a library put in its error.
 */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 8) secrets.add(value);
}

export function redactSecrets(text: string): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  return out;
}

function createRootLogger(): Logger {
  const level = process.env.MYBOT_LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'debug' : 'info');
  const destination = process.env.MYBOT_LOG_FILE;
  const pretty = !destination && process.stdout.isTTY && process.env.NODE_ENV !== 'production';
  const options = {
    level,
    base: { pid: process.pid },
    redact: { paths: ['*.bot_token', '*.api_key', '*.token', '*.authorization'], censor: REDACTED },
    hooks: { streamWrite: redactSecrets },
  };
  if (pretty) {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  if (destination) {
    // created owner-only before pino opens it (pino would make it readable by everyone)
    mkdirSync(dirname(destination), { recursive: true, mode: 0o700 });
    closeSync(openSync(destination, 'a', 0o600));
  }
  return pino(options, pino.destination({ dest: destination ?? 1, mkdir: true, sync: false }));
}

export const log: Logger = createRootLogger();

/** Writes out buffered log lines; await it before process.exit, or the last lines are lost. */
export function flushLog(): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 1000);
    try {
      log.flush(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      // a transport (pino-pretty worker) may already be gone at exit
      clearTimeout(timer);
      resolve();
    }
  });
}
