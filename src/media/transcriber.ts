import OpenAI, { toFile } from 'openai';
import type { Config } from '../config/schema.ts';
import { MybotError } from '../core/errors.ts';

/** Speech to text: the seam between the media intake and a transcription service. */
export interface Transcriber {
  /** The words spoken in `audio`; throws a TranscriptionError when it cannot. */
  transcribe(audio: Buffer, name: string, mime: string | undefined, signal: AbortSignal): Promise<string>;
}

/** Why a voice note has no transcript; the message is safe to log (no key, no URL path). */
export class TranscriptionError extends MybotError {
  constructor(
    message: string,
    /** False when transcription is switched off: nothing was tried. */
    readonly attempted = true,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

type LlmSettings = Config['llm'];

/**
 * An OpenAI-compatible `/audio/transcriptions` endpoint (OpenAI, Groq, a local whisper server):
 * `llm.transcription_model` at `llm.transcription_api_base`, or at `llm.api_base` with
 * `llm.api_key`. The second importer of openai after llm.ts: a different endpoint, with a client
 * of its own (the SDK's own fetch, which sends its multipart bodies as they are).
 */
export class OpenAiTranscriber implements Transcriber {
  private client?: OpenAI;
  private clientKey = '';

  /** Read on every call, so a reloaded config applies to the next voice note. */
  constructor(private readonly settings: () => LlmSettings) {}

  async transcribe(audio: Buffer, name: string, mime: string | undefined, signal: AbortSignal): Promise<string> {
    const llm = this.settings();
    if (!llm.transcription_model) throw new TranscriptionError('transcription is off (llm.transcription_model is empty)', false);
    // the SDK adds a listener to the signal it is given and never removes it: it gets one per call
    const call = new AbortController();
    const cancel = () => call.abort();
    if (signal.aborted) cancel();
    else signal.addEventListener('abort', cancel, { once: true });
    try {
      const file = await toFile(audio, name, mime ? { type: mime } : undefined);
      const result = await this.clientFor(llm).audio.transcriptions.create({ file, model: llm.transcription_model }, { signal: call.signal });
      return result.text.trim();
    } catch (error) {
      throw toTranscriptionError(error, llm);
    } finally {
      signal.removeEventListener('abort', cancel);
    }
  }

  private clientFor(llm: LlmSettings): OpenAI {
    const baseURL = llm.transcription_api_base ?? llm.api_base;
    // llm.api_key goes to llm.api_base only: another endpoint gets its own key, or none
    const apiKey = llm.transcription_api_base === undefined ? llm.api_key : llm.transcription_api_key;
    const key = JSON.stringify([baseURL, apiKey, llm.timeout_s, llm.max_retries]);
    if (!this.client || key !== this.clientKey) {
      this.client = new OpenAI({ baseURL, apiKey: apiKey || 'not-needed', timeout: llm.timeout_s * 1000, maxRetries: llm.max_retries, logLevel: 'off' });
      this.clientKey = key;
    }
    return this.client;
  }
}

function toTranscriptionError(error: unknown, llm: LlmSettings): TranscriptionError {
  const where = llm.transcription_api_base ? 'llm.transcription_api_base' : 'llm.api_base';
  if (error instanceof OpenAI.APIConnectionTimeoutError) return new TranscriptionError('the transcription endpoint did not answer in time (llm.timeout_s)', true, { cause: error });
  if (error instanceof OpenAI.APIConnectionError) return new TranscriptionError(`could not reach the transcription endpoint at ${where}`, true, { cause: error });
  if (error instanceof OpenAI.APIUserAbortError) return new TranscriptionError('the transcription was cancelled', true, { cause: error });
  if (error instanceof OpenAI.APIError) {
    const hint = error.status === 404 ? `: check llm.transcription_model and ${where}` : error.status === 401 ? `: check ${llm.transcription_api_base === undefined ? 'llm.api_key' : 'llm.transcription_api_key'}` : '';
    return new TranscriptionError(`the transcription endpoint answered HTTP ${error.status ?? '?'}${hint}`, true, { cause: error });
  }
  return new TranscriptionError(`the transcription failed (${error instanceof Error ? error.message : String(error)})`, true, { cause: error });
}
