import type { ImagePart } from '../agent/llm.ts';
import type { Config } from '../config/schema.ts';
import type { InboundEvent, InboundFile } from '../core/events.ts';
import type { Logger } from '../log.ts';
import { DOWNLOAD_DEFAULTS, DownloadError, download, type DownloadOptions, type FileLocation } from './download.ts';
import { decodeText, describe, handlingOf, megabytes, sniffImage } from './file-kinds.ts';
import { extractedPath, inboxPlace, readSaved, saveAtomically, type InboxPlace } from './inbox.ts';
import { pdfText } from './pdf-text.ts';
import { TranscriptionError, type Transcriber } from './transcriber.ts';

/** What a channel offers the intake: where a file a user sent can be downloaded. */
export interface FileSource {
  locateFile(file: InboundFile, signal: AbortSignal): Promise<FileLocation>;
}

/** The files of a burst, read: what the model gets of them and what the user is told. */
export interface FileReadings {
  /** Per message of the burst, each of its files as the model reads it: a reference to the saved copy, its text, a transcript. */
  texts: string[][];
  /** The images, as parts of this request only: built from the saved copies, never stored. */
  images: ImagePart[];
  /** One line each for the user: what was skipped or failed, and why. */
  notices: string[];
  /** Some file gave the model something to answer (a text, a transcript, an image). */
  usable: boolean;
}

export interface MediaIntakeDeps {
  workspace: string;
  config: () => Config;
  transcriber: Transcriber;
  /** The channel a message came through, which knows where its files are. */
  fileSource: (channel: string) => FileSource | undefined;
  log: Logger;
  download?: Omit<DownloadOptions, 'signal'>;
}

/** Telegram's getFile serves at most 20 MB; the same bound for every platform keeps memory in check. */
export const MAX_DOWNLOAD_BYTES = 20 * 1_048_576;
/** Larger images are not put into a request (OpenAI takes up to 20 MB; base64 makes them a third bigger). */
const MAX_IMAGE_BYTES = 10 * 1_048_576;
/** A file's text takes at most this share of llm.context_window (estimated at 4 characters a token). */
const TEXT_SHARE_OF_CONTEXT = 0.5;

export const NO_VISION_NOTICE = "(I can't see images with this model, so I only read the text that came with it.)";

interface FileReading {
  /** What the model reads of the file, when anything; a line naming a skipped file otherwise. */
  text: string;
  /** The file gave the model something to answer (its text, a transcript, an image). */
  usable: boolean;
  image?: ImagePart;
  notice?: string;
}

/**
 * Files users send → what the model reads. Each file is downloaded once, from its platform's
 * own file host, into inbox/<session>/ in the workspace; what was read from it (a PDF's text, a
 * transcript) is saved beside it. A replay of the same message (a crash before the answer) finds
 * both and downloads, transcribes and parses nothing again.
 */
export class MediaIntake {
  /** Models the endpoint said take no images: their next turns go without, and say so. */
  private readonly blind = new Set<string>();
  private warnedNoTranscription = false;

  constructor(private readonly deps: MediaIntakeDeps) {}

  /** The endpoint refused images for this model: the turn is answered without them, and so are the next. */
  markBlind(model: string): void {
    this.blind.add(model);
  }

  async prepare(burst: readonly InboundEvent[], signal: AbortSignal): Promise<FileReadings> {
    const texts: string[][] = [];
    const images: ImagePart[] = [];
    const notices: string[] = [];
    let usable = false;
    for (const event of burst) {
      const readings = await Promise.all((event.files ?? []).map((file, index) => this.read(event, index, file, signal)));
      texts.push(readings.map((reading) => reading.text));
      for (const reading of readings) {
        if (reading.image) images.push(reading.image);
        if (reading.notice && !notices.includes(reading.notice)) notices.push(reading.notice);
        usable ||= reading.usable;
      }
    }
    return { texts, images, notices, usable };
  }

  private async read(event: InboundEvent, index: number, file: InboundFile, signal: AbortSignal): Promise<FileReading> {
    const handling = handlingOf(file);
    const what = describe(file);
    const skipped = (why: string, notice: string): FileReading => ({ text: `[The user sent ${file.name}; not read: ${why}]`, usable: false, notice });
    if (handling === 'unsupported') return skipped('a kind of file I cannot read', `(I can't read ${what}: I take text files, PDFs, images and voice notes.)`);
    if (file.size !== undefined && file.size > MAX_DOWNLOAD_BYTES) {
      return skipped(`too large (${megabytes(file.size)})`, `(I skipped ${what}: it is ${megabytes(file.size)}, and I take files up to ${megabytes(MAX_DOWNLOAD_BYTES)}.)`);
    }
    const maxKb = this.deps.config().agent.max_file_kb;
    if (handling === 'text' && file.size !== undefined && file.size > maxKb * 1024) {
      return skipped(`larger than ${maxKb} KB`, `(I skipped ${what}: it is ${Math.ceil(file.size / 1024)} KB, and I read text files up to ${maxKb} KB (agent.max_file_kb).)`);
    }
    const place = inboxPlace(this.deps.workspace, event.sessionId, event.id, index, file);
    let data: Buffer;
    try {
      data = await this.fetch(event, file, place, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      const reason = err instanceof DownloadError ? err.message : err instanceof Error ? err.message : String(err);
      this.deps.log.warn({ sessionId: event.sessionId, eventId: event.id, file: file.name, reason }, 'could not download a file a user sent');
      return skipped('the download failed', `(I couldn't download ${what}: ${reason}. Please send it again.)`);
    }
    switch (handling) {
      case 'image':
        return this.image(file, place, data, what);
      case 'transcribe':
        return this.transcript(event, file, place, data, what, signal);
      case 'pdf':
        return this.pdf(event, file, place, data, what);
      case 'text':
        return this.text(file, place, data, what);
    }
  }

  /** The saved copy, or a download saved before it is used: a crash after it leaves the copy for the replay. */
  private async fetch(event: InboundEvent, file: InboundFile, place: InboxPlace, signal: AbortSignal): Promise<Buffer> {
    const saved = await readSaved(place.abs);
    if (saved) return saved;
    const source = this.deps.fileSource(event.source.channel);
    if (!source) throw new DownloadError(`the ${event.source.channel} channel is not running`, true);
    const location = await source.locateFile(file, signal);
    const data = await download({ ...location, maxBytes: Math.min(location.maxBytes, MAX_DOWNLOAD_BYTES) }, { ...DOWNLOAD_DEFAULTS, ...this.deps.download, signal });
    await saveAtomically(place.abs, data);
    this.deps.log.info({ sessionId: event.sessionId, eventId: event.id, file: place.rel, bytes: data.length }, 'file downloaded into the inbox');
    return data;
  }

  private image(file: InboundFile, place: InboxPlace, data: Buffer, what: string): FileReading {
    const { llm } = this.deps.config();
    const reference = `[The user sent an image, saved as ${place.rel}]`;
    if (!llm.vision || this.blind.has(llm.model)) return { text: `${reference} (not shown: this model takes no images)`, usable: false, notice: NO_VISION_NOTICE };
    if (data.length > MAX_IMAGE_BYTES) {
      return { text: `${reference} (not shown: too large)`, usable: false, notice: `(I couldn't look at ${what}: it is ${megabytes(data.length)}, and I show the model images up to ${megabytes(MAX_IMAGE_BYTES)}.)` };
    }
    const type = sniffImage(data);
    if (!type) return { text: `${reference} (not shown: not an image)`, usable: false, notice: `(I couldn't look at ${what}: it is not an image I can read.)` };
    const url = `data:${type};base64,${data.toString('base64')}`;
    return { text: reference, usable: true, image: { type: 'image_url', image_url: { url } } };
  }

  private async transcript(event: InboundEvent, file: InboundFile, place: InboxPlace, data: Buffer, what: string, signal: AbortSignal): Promise<FileReading> {
    const header = `[Transcript of ${what.replace(/^your /, "the user's ")}, saved as ${place.rel}]`;
    const cached = await readSaved(extractedPath(place.abs));
    if (cached) return { text: `${header}\n${cached.toString('utf8')}`, usable: true };
    try {
      const text = (await this.deps.transcriber.transcribe(data, file.name, file.mime, signal)) || '(no speech recognised)';
      await saveAtomically(extractedPath(place.abs), text);
      return { text: `${header}\n${text}`, usable: true };
    } catch (err) {
      if (signal.aborted) throw err;
      const off = err instanceof TranscriptionError && !err.attempted;
      if (!off) this.deps.log.error({ err, sessionId: event.sessionId, eventId: event.id, file: place.rel }, 'could not transcribe a voice note');
      else if (!this.warnedNoTranscription) this.deps.log.warn({ sessionId: event.sessionId }, 'a voice note came but transcription is off (llm.transcription_model is empty)');
      this.warnedNoTranscription ||= off;
      return { text: `[The user sent ${what.replace(/^your /, 'a ')} (${place.rel}); it could not be transcribed]`, usable: false, notice: `(Sorry, I couldn't transcribe ${what}. Could you type it?)` };
    }
  }

  private async pdf(event: InboundEvent, file: InboundFile, place: InboxPlace, data: Buffer, what: string): Promise<FileReading> {
    const maxChars = this.maxChars();
    let text: string;
    const cached = await readSaved(extractedPath(place.abs));
    if (cached) text = cached.toString('utf8');
    else {
      try {
        text = (await pdfText(data, maxChars)).text;
      } catch (err) {
        this.deps.log.warn({ sessionId: event.sessionId, eventId: event.id, file: place.rel, reason: (err as Error).message }, 'could not read a PDF');
        return { text: `[The user sent ${file.name} (${place.rel}); it could not be read]`, usable: false, notice: `(I couldn't read ${what}: ${(err as Error).message}.)` };
      }
      await saveAtomically(extractedPath(place.abs), text);
    }
    if (!text.trim()) return { text: `[The user sent ${file.name} (${place.rel}); it has no text layer]`, usable: false, notice: `(I found no text in ${what}: a scanned PDF has only pictures of its pages.)` };
    return this.fileText(file, place, text, what, text.length >= maxChars);
  }

  private text(file: InboundFile, place: InboxPlace, data: Buffer, what: string): FileReading {
    const maxKb = this.deps.config().agent.max_file_kb;
    if (data.length > maxKb * 1024) return { text: `[The user sent ${file.name}; not read: larger than ${maxKb} KB]`, usable: false, notice: `(I skipped ${what}: it is ${Math.ceil(data.length / 1024)} KB, and I read text files up to ${maxKb} KB (agent.max_file_kb).)` };
    const text = decodeText(data);
    if (text === undefined) return { text: `[The user sent ${file.name} (${place.rel}); not read: not UTF-8 text]`, usable: false, notice: `(I couldn't read ${what}: it is not a text file.)` };
    const maxChars = this.maxChars();
    return this.fileText(file, place, text.slice(0, maxChars), what, text.length > maxChars);
  }

  private fileText(file: InboundFile, place: InboxPlace, text: string, what: string, cut: boolean): FileReading {
    const body = `<file name="${file.name.replace(/"/g, "'")}" saved_as="${place.rel}"${cut ? ' cut="true"' : ''}>\n${text}\n</file>`;
    return { text: body, usable: true, ...(cut ? { notice: `(${what[0]!.toUpperCase()}${what.slice(1)} is long: I read only its first ${Math.round(text.length / 1024)} KB.)` } : {}) };
  }

  /** A file's text may take at most agent.max_file_kb, and at most half the model's context. */
  private maxChars(): number {
    const { agent, llm } = this.deps.config();
    return Math.min(agent.max_file_kb * 1024, Math.floor(llm.context_window * 4 * TEXT_SHARE_OF_CONTEXT));
  }
}
