import type { InboundEvent } from '../core/events.ts';
import { LlmError } from '../core/errors.ts';
import type { ImagePart } from './llm.ts';
import type { FileReadings, MediaIntake } from '../media/intake.ts';
import { runTurn, type TurnInput, type TurnResult } from './loop.ts';

/** A burst as the model reads it: what the users typed, then each file as the intake read it. */
export interface TurnMedia {
  /** What the users typed (captions included), as burstContent gave it. */
  typed: { text: string; cutFrom?: number };
  /** What the history keeps of the turn's user message: the typed text, then the files. */
  text: string;
  /** The images, as parts of this request only: built from the saved copies, never stored. */
  images: ImagePart[];
  /** One line each for the user: what was skipped or failed, and why. */
  notices: string[];
  /** Nothing the model could answer, only notices (a voice note that could not be transcribed): no LLM call. */
  empty: boolean;
}

/** Whether a message of the burst carries files: only then is there anything to read. */
export function hasFiles(burst: readonly InboundEvent[]): boolean {
  return burst.some((event) => (event.files?.length ?? 0) > 0);
}

/** A burst without files: its text alone. */
export function textMedia(burst: readonly InboundEvent[], typed: TurnMedia['typed']): TurnMedia {
  return combine(burst, typed, { texts: [], images: [], notices: [], usable: false });
}

/** `typed`: the burst's text (see burstContent); no intake (the terminal chat): that alone. */
export async function prepareMedia(intake: MediaIntake | undefined, burst: readonly InboundEvent[], typed: TurnMedia['typed'], signal: AbortSignal): Promise<TurnMedia> {
  return intake ? combine(burst, typed, await intake.prepare(burst, signal)) : textMedia(burst, typed);
}

/** Each message's files right after its text; when the text was cut for length, the files after all of it. */
function combine(burst: readonly InboundEvent[], typed: TurnMedia['typed'], { texts, images, notices, usable }: FileReadings): TurnMedia {
  const parts = typed.cutFrom === undefined ? burst.flatMap((event, i) => [event.content, ...(texts[i] ?? [])]) : [typed.text, ...texts.flat()];
  const text = parts.filter((part) => part.trim() !== '').join('\n\n');
  return { typed, text, images, notices, empty: !typed.text.trim() && !usable && notices.length > 0 };
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
    const blind = combine(burst, media.typed, await intake.prepare(burst, input.signal));
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
