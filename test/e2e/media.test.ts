import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_VISION_NOTICE } from '../../src/media/intake.ts';
import { imagePartsOf, type FakeRequest } from '../fakes/openai.ts';
import { Daemon, type LogLine } from '../helpers/daemon.ts';
import { pdfWithText, solidPng, TINY_JPEG } from '../helpers/media.ts';
import { loadMediaCorpus } from '../helpers/media-corpus.ts';
import { waitFor } from '../helpers/wait.ts';
import { startMediaWorld, type MediaWorld, type TestFile } from './media-setup.ts';

const CORPUS = loadMediaCorpus();

const photo = (data: Buffer = TINY_JPEG): TestFile => ({ kind: 'photo', name: 'photo.jpg', mime: 'image/jpeg', data });
const textOf = (content: unknown): string =>
  typeof content === 'string' ? content : Array.isArray(content) ? content.map((p) => (p?.type === 'text' ? String(p.text) : '')).join('') : '';
/** The user message of a request that answers a message (the last one of the first round). */
const userText = (request: FakeRequest): string => textOf(request.messages.findLast((m) => m.role === 'user')?.content);

describe.each(['telegram', 'discord'] as const)('photos, voice notes and files on %s, end to end', (platform) => {
  let world: MediaWorld;
  let daemon: Daemon;

  beforeAll(async () => {
    world = await startMediaWorld(platform);
    daemon = await Daemon.start({ config: world.config() });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await world?.close();
  });

  const requestsWith = (marker: string) => world.llm.requests.filter((r) => userText(r).includes(marker));
  const sessionText = () => readdirSync(join(daemon.workspace, 'sessions')).map((f) => readFileSync(join(daemon.workspace, 'sessions', f), 'utf8')).join('\n');

  it('a photo with a caption reaches the model as an image part plus the text; the history keeps a reference, not the image', async () => {
    const chat = world.chat();
    const image = solidPng(16, 16, [10, 200, 10]);
    chat.send({ text: 'what colour is this?', files: [{ ...photo(image), name: 'green.png', mime: 'image/png' }] });
    const [reply] = await chat.waitForTexts(1);
    const [request, ...more] = requestsWith('what colour is this?');
    expect(more).toEqual([]);
    const images = imagePartsOf(request!);
    expect(images).toHaveLength(1);
    // the type is the bytes' own (Telegram would have made a JPEG of it; the fake keeps the PNG)
    expect(images[0]!.image_url.url).toBe(`data:image/png;base64,${image.toString('base64')}`);
    const saved = /saved as (inbox\/\S+)\]/.exec(userText(request!))?.[1];
    expect(saved).toMatch(new RegExp(`^inbox/${platform}_`));
    expect(readFileSync(join(daemon.workspace, saved!))).toEqual(image);
    expect(reply).toContain('echo: what colour is this?');
    expect(sessionText()).toContain(saved!);
    expect(sessionText()).not.toContain(image.toString('base64'));
  });

  it('a voice note is transcribed, and the model answers the transcript, marked as one', async () => {
    const chat = world.chat();
    const before = world.llm.transcriptions.length;
    chat.send({ files: [{ kind: 'voice', name: 'voice.ogg', mime: 'audio/ogg', data: Buffer.from('remind me to water the plants') }] });
    const [reply] = await chat.waitForTexts(1);
    expect(world.llm.transcriptions.slice(before)).toMatchObject([{ model: 'whisper-1', size: 29 }]);
    const [request] = requestsWith('remind me to water the plants');
    expect(userText(request!)).toMatch(/^\[Transcript of the user's voice note, saved as inbox\/\S+\]\nremind me to water the plants$/);
    expect(reply).toContain('remind me to water the plants');
  });

  it('a voice note that cannot be transcribed gets one short line and no LLM call; the failure is logged once', async () => {
    const chat = world.chat();
    world.llm.setTranscriber(() => ({ status: 503, message: 'overloaded' }));
    const calls = world.llm.requests.length;
    try {
      chat.send({ files: [{ kind: 'voice', name: 'voice.ogg', mime: 'audio/ogg', data: Buffer.from('lost words') }] });
      expect(await chat.waitForTexts(1)).toEqual(["(Sorry, I couldn't transcribe your voice note. Could you type it?)"]);
    } finally {
      world.llm.setTranscriber((_req, audio) => ({ text: audio.toString('utf8') }));
    }
    expect(world.llm.requests.length).toBe(calls);
    const ofChat = (l: LogLine) => String(l.sessionId).endsWith(`:${chat.id}`);
    await daemon.waitForLog('could not transcribe a voice note', ofChat);
    expect(daemon.lines.filter((l) => l.msg === 'could not transcribe a voice note' && ofChat(l))).toHaveLength(1);
  });

  it('three photos sent together (a Telegram album, one Discord message) are one turn: one LLM request with three images', async () => {
    const chat = world.chat();
    const pictures = [solidPng(2, 2, [255, 0, 0]), solidPng(2, 2, [0, 255, 0]), solidPng(2, 2, [0, 0, 255])];
    chat.send({ text: 'compare these three', files: pictures.map((data, i) => ({ ...photo(data), name: `p${i}.png`, mime: 'image/png' })) });
    await chat.waitForTexts(1);
    const requests = requestsWith('compare these three');
    expect(requests).toHaveLength(1);
    expect(imagePartsOf(requests[0]!).map((p) => Buffer.from(p.image_url.url.split(',')[1]!, 'base64'))).toEqual(pictures);
    expect(chat.texts()).toHaveLength(1);
    // one message into the agent, not three taken together: the album was one event from the start
    const turn = await daemon.waitForLog('turn done', (l) => String(l.eventId).includes(`:${chat.id}:`));
    expect(turn.messages).toBe(1);
  });

  it('a message sent while a photo downloads joins its turn: one LLM request, one reply', async () => {
    const chat = world.chat();
    const calls = world.llm.requests.length;
    const downloads = world.downloads();
    world.slowDownloads(1_500);
    try {
      chat.send({ files: [photo()] });
      await waitFor(() => daemon.hasLog('turn started', (l) => String(l.eventId).includes(`:${chat.id}:`)), 10_000, 'the turn to start');
      chat.send({ text: 'what do you see in it?' });
      const [reply] = await chat.waitForTexts(1);
      expect(reply).toMatch(/^echo: \[The user sent an image, saved as inbox\/\S+\]\n\nwhat do you see in it\?$/);
    } finally {
      world.slowDownloads(0);
    }
    expect(world.llm.requests.length - calls).toBe(1);
    expect(world.downloads() - downloads).toBe(1);
    // answered after anything else of the session: a second answer would have come before it
    chat.send({ text: 'probe' });
    expect((await chat.waitForTexts(2)).slice(1)).toEqual(['echo: probe']);
  });

  it('reads a Markdown file and a PDF to the model, with their names', async () => {
    const chat = world.chat();
    chat.send({ text: 'summarise my notes', files: [{ kind: 'document', name: 'notes.md', mime: 'text/markdown', data: Buffer.from('# Shopping\n\n- oat milk\n- rye bread\n') }] });
    await chat.waitForTexts(1);
    const [markdown] = requestsWith('summarise my notes');
    expect(userText(markdown!)).toContain('<file name="notes.md" saved_as="inbox/');
    expect(userText(markdown!)).toContain('# Shopping\n\n- oat milk\n- rye bread\n');

    const pdf = pdfWithText([['Quarterly report', 'Revenue grew by 12 percent.'], ['Page two: costs fell.']]);
    chat.send({ text: 'and this report?', files: [{ kind: 'document', name: 'report.pdf', mime: 'application/pdf', data: pdf }] });
    await chat.waitForTexts(2);
    const [report] = requestsWith('and this report?');
    expect(userText(report!)).toContain('<file name="report.pdf"');
    expect(userText(report!)).toContain('Quarterly report\nRevenue grew by 12 percent.\n\nPage two: costs fell.');
    // the PDF's text is kept beside it, for a replay and for the agent's read_file
    const saved = /saved_as="(inbox\/[^"]+)"/.exec(userText(report!))![1]!;
    expect(readFileSync(join(daemon.workspace, `${saved}.txt`), 'utf8')).toContain('Revenue grew by 12 percent.');
  });

  it('refuses a 30 MB file with one clear line, before any download or LLM call', async () => {
    const chat = world.chat();
    const [downloads, calls] = [world.downloads(), world.llm.requests.length];
    chat.send({ files: [{ kind: 'document', name: 'backup.pdf', mime: 'application/pdf', data: Buffer.alloc(30 * 1_048_576, 7) }] });
    expect(await chat.waitForTexts(1)).toEqual(['(I skipped the file backup.pdf: it is 30 MB, and I take files up to 20 MB.)']);
    expect([world.downloads(), world.llm.requests.length]).toEqual([downloads, calls]);
  });

  it('with a text, a file it cannot read is named in one line and the text is answered', async () => {
    const chat = world.chat();
    chat.send({ text: 'here is the archive', files: [{ kind: 'document', name: 'stuff.zip', mime: 'application/zip', data: Buffer.from('PK\u0003\u0004') }] });
    const [reply] = await chat.waitForTexts(1);
    expect(reply).toMatch(/^echo: here is the archive/);
    expect(reply!.endsWith("(I can't read the file stuff.zip: I take text files, PDFs, images and voice notes.)")).toBe(true);
  });

  it('answers every case of the media corpus (test/corpus/media.json) once, as it says; nothing crashes', async () => {
    const chats = CORPUS.map((c, i) => {
      const chat = world.chat();
      chat.send({ text: `corpus case ${i}:`, files: [c.file] });
      return chat;
    });
    for (const [i, c] of CORPUS.entries()) {
      const [reply] = await chats[i]!.waitForTexts(1, 30_000);
      const [request, ...again] = requestsWith(`corpus case ${i}:`);
      expect(again, c.name).toEqual([]);
      expect(reply, c.name).toMatch(new RegExp(`^echo: corpus case ${i}:`));
      if (c.reads !== undefined) expect(userText(request!), c.name).toContain(c.reads);
      expect(imagePartsOf(request!), c.name).toHaveLength(c.images ?? 0);
      if (c.notice !== undefined) expect(reply!.split('\n').at(-1), c.name).toContain(c.notice);
      else expect(reply, c.name).not.toMatch(/\n\(I |\(Sorry/);
    }
    // the name that climbed out stayed in the inbox: the journal is the daemon's
    expect(readFileSync(join(daemon.workspace, '.mybot', 'journal.jsonl'), 'utf8')).not.toContain('not a journal\n');
    for (const chat of chats) expect(chat.texts()).toHaveLength(1);
    expect(daemon.exitCode).toBeUndefined();
  }, 90_000);

  it('a model without vision: the user gets one clear line, the caption is still answered, and the next photo is not offered to it', async () => {
    const chat = world.chat();
    world.llm.refuseImages();
    try {
      chat.send({ text: 'is this a cat?', files: [photo()] });
      const [reply] = await chat.waitForTexts(1);
      expect(reply).toMatch(/^echo: is this a cat\?/);
      expect(reply!.endsWith(NO_VISION_NOTICE)).toBe(true);
      chat.send({ text: 'and this one?', files: [photo()] });
      const [, second] = await chat.waitForTexts(2);
      expect(second!.endsWith(NO_VISION_NOTICE)).toBe(true);
      expect(requestsWith('and this one?').map((r) => imagePartsOf(r).length)).toEqual([0]);
      expect(existsSync(join(daemon.workspace, 'inbox'))).toBe(true);
    } finally {
      world.llm.refuseImages(undefined);
    }
  });
});
