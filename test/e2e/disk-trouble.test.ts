import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { LoopDisk } from '../helpers/disk.ts';
import { waitFor } from '../helpers/wait.ts';

const unavailable = LoopDisk.unavailable();
const NOT_SAVED = /I couldn't save this conversation/;
/**
 * Appends that fit in the free end of a file's last block still succeed on a full disk: messages
 * carry a few blocks of padding (not echoed back), so that every write needs room the disk has not.
 */
const PAD = ' ~pad~ ';
const padded = (text: string) => `${text}${PAD}${'x'.repeat(20_000)}`;

/**
 * The workspace on a small real ext4 file system that fills up, or that the kernel turns
 * read-only (as after an I/O error), while the daemon runs: it says so in its logs and to the
 * user, keeps answering, and loses nothing it had acknowledged.
 */
describe.skipIf(unavailable !== undefined)(`disk trouble under a running daemon${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let disk: LoopDisk | undefined;
  const daemons: Daemon[] = [];

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    llm.setResponder((req) => ({ content: `echo: ${String(req.messages.at(-1)?.content).split(PAD)[0]}` }));
  });
  afterEach(async () => {
    for (const daemon of daemons.splice(0)) await daemon.kill('SIGKILL');
    disk?.dispose();
    disk = undefined;
  });
  afterAll(async () => {
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  const start = async (workspace: string): Promise<Daemon> => {
    const daemon = await Daemon.start({
      workspace,
      config: {
        ...fakesConfig({ llm, telegram }),
        // fsync: what was acknowledged is on the disk, not only in the page cache an I/O error throws away
        server: { journal_fsync: true },
      },
    });
    daemons.push(daemon);
    return daemon;
  };
  const ask = async (chatId: number, text: string): Promise<string> => {
    const before = telegram.botMessages(chatId).length;
    telegram.userSays({ chatId, text });
    return (await waitFor(() => telegram.botMessages(chatId)[before], 15_000, `an answer to "${text}"`)).text ?? '';
  };
  const history = (workspace: string, chatId: number) =>
    readFileSync(join(workspace, 'sessions', `telegram%3a${chatId}.jsonl`), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{"role"'))
      .map((l) => (JSON.parse(l) as { content: string }).content);

  it('disk full: logged once, every message still answered with a note, and all is back to normal once there is room', async () => {
    disk = LoopDisk.create();
    const workspace = join(disk.dir, 'ws');
    mkdirSync(workspace);
    const chatId = 9301;
    let daemon = await start(workspace);
    expect(await ask(chatId, 'before')).toBe('echo: before');

    disk.fill();
    const full = await ask(chatId, padded('while full'));
    expect(full).toMatch(/^echo: while full/);
    expect(full).toMatch(NOT_SAVED);
    expect(await ask(chatId, '/help')).toMatch(/\/clear/);
    expect(await ask(chatId, padded('still full'))).toMatch(NOT_SAVED);
    await daemon.waitForLog(/^the journal cannot be written/);
    expect(daemon.lines.filter((l) => /^the journal cannot be written/.test(l.msg))).toHaveLength(1);
    expect(daemon.lines.find((l) => /^the journal cannot be written/.test(l.msg))).toMatchObject({ code: 'ENOSPC' });

    disk.free();
    const deliveredBefore = daemon.lines.filter((l) => l.msg === 'reply delivered').length;
    expect(await ask(chatId, 'after')).toBe('echo: after');
    await daemon.waitForLog('the journal can be written again');
    // the platform showing the reply is not the daemon knowing it: a kill in between resends it
    await waitFor(() => daemon.lines.filter((l) => l.msg === 'reply delivered').length > deliveredBefore, 20_000, 'the reply acknowledged');

    // a crash now replays nothing old and loses nothing acknowledged
    await daemon.kill('SIGKILL');
    daemon = await start(workspace);
    expect(await ask(chatId, 'after a crash')).toBe('echo: after a crash');
    expect(telegram.botMessages(chatId).filter((m) => m.text === 'echo: before')).toHaveLength(1);
    expect(history(workspace, chatId)).toEqual(['before', 'echo: before', 'after', 'echo: after', 'after a crash', 'echo: after a crash']);
    expect(daemon.exitCode).toBeUndefined();
  });

  it('read-only: logged, answered with a note; after the owner fixes the disk, everything acknowledged is still there', async () => {
    disk = LoopDisk.create();
    const workspace = join(disk.dir, 'ws');
    mkdirSync(workspace);
    const chatId = 9302;
    const daemon = await start(workspace);
    expect(await ask(chatId, 'first')).toBe('echo: first');
    expect(await ask(chatId, 'second')).toBe('echo: second');
    // the reply is out and its bookkeeping on disk: what the error may take from here on was never acknowledged
    await waitFor(() => daemon.lines.filter((l) => l.msg === 'reply delivered').length === 2, 20_000, 'both replies acknowledged');

    disk.breakFs();
    const answer = await ask(chatId, 'while read-only');
    expect(answer).toMatch(/^echo: while read-only/);
    expect(answer).toMatch(NOT_SAVED);
    // EROFS, or EIO from an fsync the error caught half way
    expect(await daemon.waitForLog(/^the journal cannot be written/)).toMatchObject({ code: expect.stringMatching(/^(EROFS|EIO)$/) });
    expect(await daemon.kill('SIGTERM')).toBe(0);

    disk.remount();
    const again = await start(workspace);
    expect(await ask(chatId, 'back')).toBe('echo: back');
    // nothing answered twice, nothing acknowledged lost: the conversation before the error is all there
    expect(telegram.botMessages(chatId).filter((m) => m.text === 'echo: first' || m.text === 'echo: second')).toHaveLength(2);
    expect(again.hasLog('replaying events not acknowledged before the last stop')).toBeUndefined();
    expect(history(workspace, chatId)).toEqual(['first', 'echo: first', 'second', 'echo: second', 'back', 'echo: back']);
  });
});
