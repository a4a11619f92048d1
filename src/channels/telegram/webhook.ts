import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../log.ts';
import { readBody, sameSecret, sendJson, sendText, type RouteHost } from '../../server/http-server.ts';

/** https://core.telegram.org/bots/api#setwebhook: the secret_token comes back in this header. */
const SECRET_HEADER = 'x-telegram-bot-api-secret-token';

/**
 * The receiving end of a Telegram webhook on the daemon's HTTP server. An update is answered 200
 * only once `handle` resolved, i.e. once its message is journaled: Telegram forgets an update it
 * got a 200 for, so a 200 first would lose it to a crash. A failure or a pause answers 5xx and
 * Telegram delivers the update again; the journal turns the second copy away.
 */
export class TelegramWebhook {
  private unroute?: () => void;
  private paused = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly host: RouteHost,
    private readonly path: string,
    private readonly secret: () => string,
    private readonly handle: (update: unknown) => Promise<void>,
    private readonly log: Logger,
  ) {}

  listen(): void {
    this.paused = false;
    this.unroute ??= this.host.route('POST', this.path, (req, res) => this.receive(req, res), { bearer: false });
  }

  /** New updates get 503 (Telegram tries again later); waits for the ones being journaled. */
  async pause(): Promise<void> {
    this.paused = true;
    await Promise.allSettled([...this.inFlight]);
  }

  async close(): Promise<void> {
    await this.pause();
    this.unroute?.();
    this.unroute = undefined;
  }

  private async receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const given = req.headers[SECRET_HEADER];
    if (typeof given !== 'string' || !sameSecret(given, this.secret())) {
      this.log.warn({ path: this.path }, 'webhook request without the right secret token: refused (401)');
      return sendText(res, 401, 'unauthorized');
    }
    if (this.paused) return sendText(res, 503, 'stopping; send it again later');
    const body = await readBody(req, res);
    if (!body) return;
    let update: unknown;
    try {
      update = JSON.parse(body.toString('utf8'));
    } catch {
      return sendText(res, 400, 'the body is not JSON');
    }
    const work = this.handle(update);
    this.inFlight.add(work);
    try {
      await work;
    } catch (err) {
      this.log.error({ err }, 'a webhook update could not be journaled; answering 500 so Telegram sends it again');
      return sendText(res, 500, 'not stored; send it again');
    } finally {
      this.inFlight.delete(work);
    }
    sendJson(res, 200, {});
  }
}
