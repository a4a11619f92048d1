import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FakeRequest } from '../fakes/openai.ts';
import { Daemon } from '../helpers/daemon.ts';
import { solidPng, TINY_JPEG } from '../helpers/media.ts';
import { waitFor } from '../helpers/wait.ts';
import { startMediaWorld, type MediaWorld } from './media-setup.ts';

const lastRole = (request: FakeRequest): string => request.messages.at(-1)?.role;

describe.each(['telegram', 'discord'] as const)('media across a SIGKILL on %s', (platform) => {
  let world: MediaWorld;
  const daemons: Daemon[] = [];
  const workspaces: string[] = [];

  beforeAll(async () => {
    world = await startMediaWorld(platform);
  });

  afterEach(async () => {
    world.llm.setLatency(0);
    for (const daemon of daemons.splice(0)) await daemon.kill();
    for (const workspace of workspaces.splice(0)) rmSync(workspace, { recursive: true, force: true });
  });

  afterAll(async () => {
    await world?.close();
  });

  const start = async (workspace: string): Promise<Daemon> => {
    const daemon = await Daemon.start({ config: world.config(), workspace });
    daemons.push(daemon);
    return daemon;
  };
  const workspace = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'mybot-e2e-media-'));
    workspaces.push(dir);
    return dir;
  };

  it('SIGKILL after the download, before the reply: one reply after the restart, and one download in all', async () => {
    const dir = workspace();
    const first = await start(dir);
    const chat = world.chat();
    const downloads = world.downloads();
    const calls = world.llm.requests.length;
    world.llm.setLatency(60_000); // the turn is under way when the daemon dies
    chat.send({ text: 'describe this photo', files: [{ kind: 'photo', name: 'photo.jpg', mime: 'image/jpeg', data: TINY_JPEG }] });
    await waitFor(() => world.llm.requests.length > calls, 10_000, 'the LLM call, after the download');
    expect(world.downloads()).toBe(downloads + 1);
    await first.kill('SIGKILL');
    world.llm.setLatency(0);

    await start(dir);
    const [reply] = await chat.waitForTexts(1);
    expect(reply).toContain('echo: describe this photo');
    expect(world.downloads()).toBe(downloads + 1);
    expect(world.llm.requests.slice(calls).map((r) => r.messages.at(-1)?.content?.[1]?.type)).toEqual(['image_url', 'image_url']);
    // a probe answered after it: a second answer to the photo would have come first
    chat.send({ text: 'probe' });
    expect(await chat.waitForTexts(2)).toEqual([reply, 'echo: probe']);
  });

  it('send_file delivers a PNG as a photo and a CSV as a document, exactly once across a SIGKILL', async () => {
    const dir = workspace();
    const png = solidPng(32, 24);
    const csv = 'name,amount\nrent,900\nfood,300\n';
    writeFileSync(join(dir, 'chart.png'), png);
    writeFileSync(join(dir, 'budget.csv'), csv);
    const chat = world.chat();
    let hold = true;
    world.llm.setResponder((req) => {
      if (lastRole(req) === 'user') {
        return {
          toolCalls: [
            { name: 'send_file', arguments: JSON.stringify({ path: 'chart.png', caption: 'the chart' }) },
            { name: 'send_file', arguments: JSON.stringify({ path: 'budget.csv' }) },
          ],
        };
      }
      // the answer after the files: held until the test lets it go, so the kill lands before it
      return { content: 'sent you the chart and the table', delayMs: hold ? 60_000 : 0 };
    });
    try {
      const first = await start(dir);
      chat.send({ text: 'send me the chart and the budget' });
      await waitFor(() => chat.files().length >= 2, 10_000, 'both files on the platform');
      // recorded as delivered: a kill in the instant between Telegram taking a file and that record sends it again (no idempotency key)
      await waitFor(() => first.lines.filter((l) => l.msg === 'reply delivered' && String(l.eventId).includes(':file:')).length === 2, 10_000, 'both files recorded as delivered');
      await first.kill('SIGKILL');
      hold = false;

      const second = await start(dir);
      const [reply] = await chat.waitForTexts(1);
      expect(reply).toBe('sent you the chart and the table');
      await second.waitForLog('turn done');
      const toolResults = world.llm.requests.filter((r) => lastRole(r) === 'tool').at(-1)!.messages.filter((m) => m.role === 'tool').map((m) => m.content);
      expect(toolResults).toEqual(['chart.png was already sent to the chat for this message; not sent again', 'budget.csv was already sent to the chat for this message; not sent again']);
    } finally {
      world.llm.setResponder();
    }
    const files = chat.files();
    expect(files.map((f) => [f.as, f.name, f.caption])).toEqual(
      platform === 'telegram'
        ? [['photo', 'chart.png', 'the chart'], ['document', 'budget.csv', '']]
        : [['file', 'chart.png', 'the chart'], ['file', 'budget.csv', '']],
    );
    expect(files[0]!.data).toEqual(png);
    expect(files[1]!.data.toString('utf8')).toBe(csv);
  });
});
