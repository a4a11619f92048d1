import { request } from 'node:http';

/** One POST of an update to the bot's webhook, as the fake saw it. */
export type WebhookDelivery = { updateId: number; url: string; secret?: string; status: number; at: number };

/** What Telegram knows of a bot's webhook (setWebhook). */
export type WebhookSetting = { url: string; secret?: string; allowedUpdates?: string[] };

/**
 * Telegram's side of a webhook: updates are POSTed to the bot's URL one at a time, in order, with
 * the secret in X-Telegram-Bot-Api-Secret-Token; an update is forgotten only after a 2xx, anything
 * else (or no answer) and it is sent again after `retryMs`. `route` plays the network between
 * Telegram and the bot (a reverse proxy): it maps the public URL to where the daemon listens;
 * until it is set, deliveries fail as if the host could not be reached.
 */
export class WebhookSender {
  readonly deliveries: WebhookDelivery[] = [];
  route: ((publicUrl: string) => string | undefined) | undefined;
  /** Called with each answer as it arrives, before the update is forgotten (e.g. to SIGKILL the bot right after a 200). */
  onAnswer: ((delivery: WebhookDelivery) => void) | undefined;
  retryMs = 100;
  /** What getWebhookInfo reports of the last failed delivery. */
  lastError: { date: number; message: string } | undefined;
  private running = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly setting: () => WebhookSetting | undefined,
    /** The oldest update not yet delivered, and the call that forgets it. */
    private readonly next: () => { update: { update_id: number }; delivered: () => void } | undefined,
  ) {}

  /** Starts delivering if there is something to deliver and nothing in flight. */
  kick(): void {
    if (this.running) return;
    const setting = this.setting();
    const next = this.next();
    if (!setting || !next) return;
    this.running = true;
    void this.post(setting, next.update).then((status) => {
      this.running = false;
      if (status >= 200 && status < 300) {
        next.delivered();
        this.kick();
      } else {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.kick(), this.retryMs);
      }
    });
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private post(setting: WebhookSetting, update: { update_id: number }): Promise<number> {
    const target = this.route?.(setting.url);
    const record = (status: number): number => {
      const delivery: WebhookDelivery = { updateId: update.update_id, url: setting.url, ...(setting.secret ? { secret: setting.secret } : {}), status, at: Date.now() };
      this.deliveries.push(delivery);
      if (status < 200 || status >= 300) this.lastError = { date: Math.floor(Date.now() / 1000), message: status === 0 ? 'Connection refused' : `Wrong response from the webhook: ${status}` };
      this.onAnswer?.(delivery);
      return status;
    };
    if (!target) return Promise.resolve(record(0));
    const body = JSON.stringify(update);
    return new Promise((resolve) => {
      const req = request(
        target,
        { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(setting.secret ? { 'x-telegram-bot-api-secret-token': setting.secret } : {}) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(record(res.statusCode ?? 0)));
          res.on('error', () => resolve(record(0)));
        },
      );
      req.setTimeout(10_000, () => req.destroy());
      req.on('error', () => resolve(record(0)));
      req.end(body);
    });
  }
}
