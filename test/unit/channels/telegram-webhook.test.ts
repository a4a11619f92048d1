import { afterEach, describe, expect, it } from 'vitest';
import { TelegramWebhook } from '../../../src/channels/telegram/webhook.ts';
import { HttpServer } from '../../../src/server/http-server.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { waitFor } from '../../helpers/wait.ts';

const SECRET = 'unit-secret';

describe('TelegramWebhook: the answer waits for the journal', () => {
  let server: HttpServer | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  async function hook(handle: (update: unknown) => Promise<void>): Promise<{ webhook: TelegramWebhook; post: (secret?: string) => Promise<number> }> {
    const log = memoryLogger().logger;
    server = new HttpServer({ host: '127.0.0.1', port: 0, token: () => 'unrelated-bearer', log });
    const webhook = new TelegramWebhook(server, '/hook', () => SECRET, handle, log);
    webhook.listen();
    const { port } = await server.start();
    const post = async (secret = SECRET) =>
      (await fetch(`http://127.0.0.1:${port}/hook`, { method: 'POST', headers: { 'x-telegram-bot-api-secret-token': secret }, body: '{"update_id":1}' })).status;
    return { webhook, post };
  }

  it('answers 200 only once the update is handled, 500 when handling failed, 401 without the secret', async () => {
    let finish: (() => void) | undefined;
    let fail: ((err: Error) => void) | undefined;
    const updates: unknown[] = [];
    const { post } = await hook((update) => {
      updates.push(update);
      return new Promise<void>((resolve, reject) => {
        finish = resolve;
        fail = reject;
      });
    });
    let status: number | undefined;
    const answered = post().then((s) => (status = s));
    await waitFor(() => finish, 5_000, 'the update to be handed over');
    // a round trip on the same server: had the 200 gone out first, it would be here by now
    expect(await post('wrong')).toBe(401);
    expect(status).toBeUndefined();
    finish!();
    await answered;
    expect(status).toBe(200);
    expect(updates).toEqual([{ update_id: 1 }]);

    const failing = post();
    await waitFor(() => updates.length === 2, 5_000, 'the second update');
    fail!(new Error('disk full'));
    expect(await failing).toBe(500);
  });

  it('answers 503 once paused, so Telegram sends the update again later', async () => {
    const { webhook, post } = await hook(async () => undefined);
    expect(await post()).toBe(200);
    await webhook.pause();
    expect(await post()).toBe(503);
  });
});
