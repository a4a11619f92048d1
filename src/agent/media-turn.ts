import type { InboundEvent } from '../core/events.ts';
import { LlmError } from '../core/errors.ts';
import type { MediaIntake, TurnMedia } from '../media/intake.ts';
import { burstContent } from './bursts.ts';
import { runTurn, type TurnInput, type TurnResult } from './loop.ts';
import type { ToolContext } from './tools/tool.ts';

/** The burst as the model reads it: its files read by the intake, or (no intake: the terminal chat) its text. */
export async function prepareMedia(intake: MediaIntake | undefined, burst: readonly InboundEvent[], signal: AbortSignal): Promise<TurnMedia> {
  return intake ? intake.prepare(burst, signal) : { text: burstContent(burst), images: [], notices: [], empty: false };
}

/**
 * The turn with the user's images. When the endpoint answers that the model takes no images, the
 * model is remembered as blind and the turn runs again without them (the files read again from
 * the inbox, with the line that tells the user); `result` is undefined when nothing is left to ask.
 */
export async function runTurnSeeing(
  input: Omit<TurnInput, 'user' | 'images'>,
  media: TurnMedia,
  burst: readonly InboundEvent[],
  intake: MediaIntake | undefined,
  model: string,
): Promise<{ media: TurnMedia; result?: TurnResult }> {
  try {
    return { media, result: await runTurn({ ...input, user: media.text, images: media.images }) };
  } catch (error) {
    if (!intake || media.images.length === 0 || !refusesImages(error)) throw error;
    intake.markBlind(model);
    const blind = await intake.prepare(burst, input.signal);
    return blind.empty ? { media: blind } : { media: blind, result: await runTurn({ ...input, user: blind.text, images: [] }) };
  }
}

/**
 * The endpoint refused the request because of its images: OpenAI ("image_url is only supported by
 * certain models"), OpenRouter ("No endpoints found that support image input"), vLLM ("not a
 * multimodal model"), LM Studio ("does not support images"), servers that take only string content.
 */
export function refusesImages(error: unknown): boolean {
  if (!(error instanceof LlmError) || error.transient) return false;
  const cause = error.cause as { status?: unknown; message?: unknown } | undefined;
  const status = typeof cause?.status === 'number' ? cause.status : 0;
  return [400, 404, 415, 422].includes(status) && /image|vision|multi-?modal|must be a string/i.test(String(cause?.message ?? ''));
}

/** The lines for the user (what was skipped, and why) after the answer. */
export function withNotices(reply: string, notices: readonly string[]): string {
  return notices.length > 0 ? `${reply}\n\n${notices.join('\n')}` : reply;
}

/** What the tools of a turn act for: the burst's conversation, and its first message. */
export function toolContextOf(first: InboundEvent): ToolContext {
  return { sessionId: first.sessionId, source: first.source, eventId: first.id };
}
