import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../log.ts';
import { readBody, sameSecret, sendJson, sendText, type RouteHost } from '../../server/http-server.ts';

/** https://core.telegram.org/bots/api#setwebhook: the secret_token comes back in this header. */
const SECRET_HEADER = 'x-telegram-bot-api-secret-token';
/** How often Telegram is asked whether it can reach the webhook (getWebhookInfo). */
const CHECK_MS = 10_000;

/** The fields of getWebhookInfo that say whether Telegram reaches the bot. */
export interface WebhookInfo {
  url?: string;
  pending_update_count: number;
  /** Unix time (s) of the last failed delivery, and why. */
  last_error_date?: number;
  last_error_message?: string;
}

/** The Bot API calls a webhook needs, from the adapter (the only file that imports grammy). */
export interface WebhookApi {
  /** Runs the update through the bot; resolves once its message is journaled. */
  handle(update: unknown): Promise<void>;
  setWebhook(url: string, secret: string): Promise<unknown>;
  info(): Promise<WebhookInfo>;
}

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
  private lastUpdateAt = Date.now();
  private timer?: NodeJS.Timeout;
  /** Why Telegram does not reach the webhook, from the last check; undefined while it does. */
  problem: string | undefined;

  constructor(
    private readonly host: RouteHost,
    private readonly path: string,
    private readonly secret: () => string,
    private readonly handle: (update: unknown) => Promise<void>,
    private readonly log: Logger,
  ) {}

  /**
   * Serves the route on `host` at the path of `url`, then has Telegram use it (setWebhook): the
   * route must answer before Telegram sends the first update. Rejects with setWebhook's error.
   */
  static async open(host: RouteHost, url: string, secret: () => string, api: WebhookApi, log: Logger): Promise<TelegramWebhook> {
    const webhook = new TelegramWebhook(host, new URL(url).pathname, secret, (update) => api.handle(update), log);
    webhook.listen();
    try {
      await api.setWebhook(url, secret());
    } catch (err) {
      await webhook.close();
      throw err;
    }
    webhook.watch(url, () => api.info());
    return webhook;
  }

  /**
   * Asks Telegram every CHECK_MS whether it delivers to `url`: a webhook whose deliveries fail
   * (a broken proxy, an expired certificate) or that was replaced is not connected, whatever
   * this side thinks. A failed check says nothing either way.
   */
  watch(url: string, info: () => Promise<WebhookInfo>): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      info().then(
        (current) => this.judge(url, current),
        (err: unknown) => this.log.debug({ reason: err instanceof Error ? err.message : String(err) }, 'getWebhookInfo failed'),
      );
    }, CHECK_MS);
    this.timer.unref();
  }

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
    clearInterval(this.timer);
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
    this.lastUpdateAt = Date.now();
    sendJson(res, 200, {});
  }

  private judge(url: string, info: WebhookInfo): void {
    const failing = info.last_error_date !== undefined && info.last_error_date * 1000 > this.lastUpdateAt && info.pending_update_count > 0;
    const problem =
      (info.url ?? '') !== url
        ? `the webhook at Telegram is ${info.url ? `set to another URL` : 'not set'}: restart mybot to set it again`
        : failing
          ? `Telegram cannot deliver to webhook_url (${info.last_error_message ?? 'no reason given'}); ${info.pending_update_count} update(s) waiting`
          : undefined;
    if (problem && !this.problem) this.log.warn({ reason: problem }, 'telegram webhook not reached; check the reverse proxy and webhook_url');
    if (!problem && this.problem) this.log.info('telegram webhook reached again');
    this.problem = problem;
  }
}
