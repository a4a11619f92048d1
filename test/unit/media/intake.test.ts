import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { localServer } from '../../helpers/local-server.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../../src/config/schema.ts';
import { createEvent, type InboundEvent, type InboundFile } from '../../../src/core/events.ts';
import { prepareMedia } from '../../../src/agent/media-turn.ts';
import { MediaIntake, NO_VISION_NOTICE } from '../../../src/media/intake.ts';
import { inboxFolder, safeName } from '../../../src/media/inbox.ts';
import { TranscriptionError, type Transcriber } from '../../../src/media/transcriber.ts';
import { pdfWithText, TINY_JPEG } from '../../helpers/media.ts';

/** The platform's file host: serves `files` by name and counts the downloads. */
let close: () => Promise<void>;
let origin = '';
const files = new Map<string, Buffer>();
const downloads: string[] = [];
const workspaces: string[] = [];

beforeAll(async () => {
  ({ origin, close } = await localServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').slice(1));
    const data = files.get(name);
    downloads.push(name);
    if (data) res.writeHead(200, { 'content-length': data.length }).end(data);
    else res.writeHead(404).end();
  }));
});

afterAll(() => close());

afterEach(() => {
  for (const dir of workspaces.splice(0)) rmSync(dir, { recursive: true, force: true });
  files.clear();
  downloads.length = 0;
});

function setup(settings: { llm?: Record<string, unknown>; agent?: Record<string, unknown> } = {}, transcriber?: Transcriber) {
  const workspace = mkdtempSync(join(tmpdir(), 'mybot-intake-'));
  workspaces.push(workspace);
  const config: Config = configSchema.parse(settings);
  const transcripts: string[] = [];
  const intake = new MediaIntake({
    workspace,
    config: () => config,
    transcriber: transcriber ?? {
      transcribe: async (audio) => {
        transcripts.push(audio.toString());
        return audio.toString();
      },
    },
    fileSource: () => ({ locateFile: async (file) => ({ url: `${origin}/${file.fileId}`, allows: (url) => url.origin === origin, maxBytes: 20 * 1_048_576 }) }),
    log: pino({ level: 'silent' }),
    download: { timeoutMs: 2_000, tries: 1, backoffMs: 1 },
  });
  let n = 0;
  const message = (content: string, ...sent: Array<InboundFile & { data?: Buffer }>): InboundEvent => {
    for (const file of sent) if (file.data) files.set(file.fileId, file.data);
    return createEvent<InboundEvent>({
      id: `telegram:42:${++n}`, type: 'inbound', sessionId: 'telegram:42', source: { channel: 'telegram', chatId: '42' }, content, retryCount: 0,
      files: sent.map(({ data: _data, ...file }) => file),
    });
  };
  const signal = new AbortController().signal;
  /** The turn's media, as the agent builds it: the typed text (the messages' contents), then the files. */
  const read = (events: InboundEvent[]) => prepareMedia(intake, events, { text: events.map((e) => e.content).join('\n\n') }, signal);
  return { workspace, intake, message, transcripts, signal, read };
}

const file = (kind: InboundFile['kind'], name: string, data: Buffer, mime?: string): InboundFile & { data: Buffer } => ({
  kind, fileId: `id-${name}-${data.length}`, name, size: data.length, data, ...(mime ? { mime } : {}),
});

describe('the media intake', () => {
  it('downloads a file once: a replay of the same message reads the saved copy', async () => {
    const { workspace, read, message } = setup();
    const event = message('what is this?', file('image', 'photo.jpg', TINY_JPEG, 'image/jpeg'));
    const first = await read([event]);
    const again = await read([event]);
    expect(downloads).toHaveLength(1);
    expect(again).toEqual(first);
    expect(first.text).toBe('what is this?\n\n[The user sent an image, saved as inbox/telegram_42/1-0-photo.jpg]');
    expect(first.images).toEqual([{ type: 'image_url', image_url: { url: `data:image/jpeg;base64,${TINY_JPEG.toString('base64')}` } }]);
    expect(readFileSync(join(workspace, 'inbox/telegram_42/1-0-photo.jpg'))).toEqual(TINY_JPEG);
  });

  it('transcribes a voice note once, and keeps the transcript beside it', async () => {
    const { workspace, read, message, transcripts } = setup();
    const event = message('', file('voice', 'voice.ogg', Buffer.from('call mum at six'), 'audio/ogg'));
    const media = await read([event]);
    await read([event]);
    expect(transcripts).toEqual(['call mum at six']);
    expect(media).toMatchObject({ text: "[Transcript of the user's voice note, saved as inbox/telegram_42/1-0-voice.ogg]\ncall mum at six", empty: false, notices: [] });
    expect(readFileSync(join(workspace, 'inbox/telegram_42/1-0-voice.ogg.txt'), 'utf8')).toBe('call mum at six');
  });

  it('a voice note that cannot be transcribed: nothing to ask, one line for the user; transcription off says so the same way', async () => {
    const failing = setup({}, { transcribe: async () => Promise.reject(new TranscriptionError('the transcription endpoint answered HTTP 500')) });
    const media = await failing.read([failing.message('', file('voice', 'voice.ogg', Buffer.from('x')))]);
    expect(media).toMatchObject({ empty: true, images: [], notices: ["(Sorry, I couldn't transcribe your voice note. Could you type it?)"] });
    const off = setup({}, { transcribe: async () => Promise.reject(new TranscriptionError('transcription is off', false)) });
    const withText = await off.read([off.message('and my text', file('voice', 'voice.ogg', Buffer.from('x')))]);
    expect(withText).toMatchObject({ empty: false, notices: ["(Sorry, I couldn't transcribe your voice note. Could you type it?)"] });
    expect(withText.text).toMatch(/^and my text\n\n\[The user sent a voice note \(inbox\/telegram_42\/1-0-voice\.ogg\); it could not be transcribed\]$/);
  });

  it('reads text files and PDFs up to agent.max_file_kb, and says what it skipped and why', async () => {
    const { read, message } = setup({ agent: { max_file_kb: 1 } });
    const media = await read([
        message(
          'files',
          file('document', 'a.csv', Buffer.from('x,y\n1,2\n'), 'text/csv'),
          file('document', 'big.md', Buffer.alloc(2_000, 'a'), 'text/markdown'),
          file('document', 'latin1.txt', Buffer.from([0x63, 0x61, 0x66, 0xe9])),
          file('document', 'r.pdf', pdfWithText([['Hello from the PDF']]), 'application/pdf'),
          file('document', 'long.pdf', pdfWithText([Array.from({ length: 40 }, (_, i) => `line ${i} of the first page`), ['page two']]), 'application/pdf'),
          file('document', 'bad.pdf', Buffer.from('%PDF-1.4 nonsense'), 'application/pdf'),
          file('document', 'tool.exe', Buffer.from('MZ'), 'application/octet-stream'),
        ),
    ]);
    expect(media.text).toContain('<file name="a.csv" saved_as="inbox/telegram_42/1-0-a.csv">\nx,y\n1,2\n\n</file>');
    expect(media.text).toContain('<file name="r.pdf" saved_as="inbox/telegram_42/1-3-r.pdf">\nHello from the PDF\n</file>');
    expect(media.text).toContain('<file name="long.pdf" saved_as="inbox/telegram_42/1-4-long.pdf" cut="true">');
    expect(media.notices).toEqual([
      '(I skipped the file big.md: it is 2 KB, and I read text files up to 1 KB (agent.max_file_kb).)',
      "(I couldn't read the file latin1.txt: it is not a text file.)",
      '(The file long.pdf is long: I read only its first 1 KB.)',
      expect.stringMatching(/^\(I couldn't read the file bad\.pdf: it could not be read as a PDF/),
      "(I can't read the file tool.exe: I take text files, PDFs, images and voice notes.)",
    ]);
    // a skipped file is not downloaded: big.md, tool.exe
    expect(downloads.map((id) => id.split('-')[1]).sort()).toEqual(['a.csv', 'bad.pdf', 'latin1.txt', 'long.pdf', 'r.pdf']);
  });

  it('with llm.vision off, or a model the endpoint found blind, images are named, not shown, and the user is told once', async () => {
    const off = setup({ llm: { vision: false } });
    const two = [file('image', 'photo.jpg', TINY_JPEG), file('image', 'photo.jpg', Buffer.concat([TINY_JPEG, Buffer.from([0])]))];
    const blind = await off.read([off.message('', ...two)]);
    expect(blind).toMatchObject({ images: [], notices: [NO_VISION_NOTICE], empty: true });
    const { intake, message, read } = setup({ llm: { model: 'text-only' } });
    intake.markBlind('text-only');
    expect(await read([message('what is it?', file('image', 'photo.jpg', TINY_JPEG))])).toMatchObject({ images: [], notices: [NO_VISION_NOTICE], empty: false });
  });

  it('a failed download is a line for the user, not a failed turn', async () => {
    const { read, message } = setup();
    const event = message('here', { kind: 'document', fileId: 'missing', name: 'notes.txt', mime: 'text/plain', size: 10 });
    expect(await read([event])).toMatchObject({
      empty: false,
      notices: [expect.stringMatching(/^\(I couldn't download the file notes\.txt: 127\.0\.0\.1:\d+ answered HTTP 404\. Please send it again\.\)$/)],
    });
  });
});

describe('inbox names', () => {
  it('a session is a folder, a user file name is made safe', () => {
    expect(inboxFolder('telegram:-100123:5')).toBe('telegram_-100123_5');
    expect(inboxFolder('discord:998877')).toBe('discord_998877');
    expect(safeName('../../etc/passwd')).toBe('passwd');
    expect(safeName('..\\..\\boot.ini')).toBe('boot.ini');
    expect(safeName('.hidden')).toBe('hidden');
    expect(safeName('a\u0000b\nc.txt')).toBe('a_b_c.txt');
    expect(safeName('résumé 2024.pdf')).toBe('résumé 2024.pdf');
    expect(safeName('')).toBe('file');
    expect(safeName(`${'x'.repeat(200)}.tar.gz`)).toMatch(/^x{77}\.gz$/);
  });
});

describe('a workspace file written by hand where a download would go', () => {
  it('is taken as the saved copy (the inbox is the record of what was downloaded)', async () => {
    const { workspace, read, message } = setup();
    const event = message('', file('document', 'n.md', Buffer.from('fresh'), 'text/markdown'));
    const dir = join(workspace, 'inbox', 'telegram_42');
    (await import('node:fs')).mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '1-0-n.md'), 'already here');
    expect((await read([event])).text).toContain('already here');
    expect(downloads).toEqual([]);
  });
});
