import { ChannelError } from '../../core/errors.ts';

/**
 * What grammY throws, told apart by shape so only adapter.ts imports grammy: a GrammyError (and
 * a raw failed ApiResponse) has `error_code` and `description`; an HttpError (network) has that name.
 */
interface ApiFailure {
  error_code: number;
  description: string;
  parameters?: { retry_after?: number };
}

function isApiFailure(err: unknown): err is ApiFailure {
  return typeof err === 'object' && err !== null && typeof (err as ApiFailure).error_code === 'number' && typeof (err as ApiFailure).description === 'string';
}

function isHttpError(err: unknown): err is Error & { error?: unknown } {
  return err instanceof Error && err.name === 'HttpError';
}

/** Bot API URLs carry the token (`/bot<token>/method`); never let one into a message. */
function scrub(text: string): string {
  return text.replace(/\/bot[^/\s]+\//g, '/bot<token>/');
}

/** One line for logs and status: the API's answer or the network failure, never the payload or the token. */
export function describeError(err: unknown): string {
  if (isApiFailure(err)) return `${err.error_code}: ${err.description}`;
  if (isHttpError(err)) {
    const inner = err.error as { code?: string; type?: string; message?: string } | undefined;
    const reason = inner?.code ?? inner?.type ?? inner?.message;
    return scrub(reason ? `${err.message} (${reason})` : err.message);
  }
  return scrub(err instanceof Error ? err.message : String(err));
}

/** The seconds Telegram asks to wait, from a 429 (a GrammyError or a failed ApiResponse); undefined for anything else. */
export function retryAfterOf(outcome: unknown): number | undefined {
  if (!isApiFailure(outcome) || outcome.error_code !== 429) return undefined;
  const seconds = outcome.parameters?.retry_after;
  return typeof seconds === 'number' && seconds >= 0 ? seconds : undefined;
}

/** Telegram's answer to HTML it cannot parse: the same text can still go out as plain text. */
export function isParseEntitiesError(err: unknown): boolean {
  return isApiFailure(err) && err.error_code === 400 && /can't parse entities/i.test(err.description);
}

/** Telegram's answer to an edit that would leave the message as it is: the message already shows that text. */
export function isNotModifiedError(err: unknown): boolean {
  return isApiFailure(err) && err.error_code === 400 && /message is not modified/i.test(err.description);
}

/**
 * A failed call as a ChannelError: rate limits, 5xx and the network are worth another try; any
 * other 4xx (chat not found, bot blocked, message too long) will fail the same way again.
 */
export function toChannelError(err: unknown, method: string): ChannelError {
  if (err instanceof ChannelError) return err;
  if (isApiFailure(err)) {
    const retryable = err.error_code === 429 || err.error_code >= 500;
    return new ChannelError(`Telegram ${method} failed (${describeError(err)})`, retryable);
  }
  if (isHttpError(err)) return new ChannelError(`could not reach Telegram for ${method}: ${describeError(err)}`, true);
  return new ChannelError(`Telegram ${method} failed: ${describeError(err)}`, true);
}
