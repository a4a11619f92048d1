import { isIP } from 'node:net';
import type { Config } from './schema.ts';

export interface Problem {
  path: string[];
  message: string;
}

/**
 * Rules that tie keys together, checked once the shapes are valid. Each names the keys to change;
 * the first problem is what the loader reports.
 */
export function crossKeyProblems(config: Config): Problem[] {
  return [...priceProblems(config), ...busProblems(config), ...httpProblems(config), ...webhookProblems(config), ...accountNameProblems(config)];
}

/** cost_per_day needs a price for every model that may answer: llm.model and the fallbacks. */
function priceProblems({ llm, limits, channels }: Config): Problem[] {
  const sets = [{ key: 'limits', limits }, ...accountsOf(channels).map((a) => ({ key: `${a.key}.limits`, limits: a.settings.limits }))];
  const costKey = sets.flatMap(({ key, limits: l }) => (['per_user', 'per_chat'] as const).filter((scope) => l?.[scope]?.cost_per_day !== undefined).map((scope) => `${key}.${scope}.cost_per_day`))[0];
  if (!costKey) return [];
  const models = [['llm.model', llm.model], ...llm.fallbacks.map((f, i) => [`llm.fallbacks.${i}.model`, f.model])];
  const missing = models.find(([, model]) => !limits.prices[model!]);
  if (!missing) return [];
  const [key, model] = missing;
  return [{ path: ['limits', 'prices'], message: `${costKey} is set but there is no price for the model '${model}' (${key}): add limits.prices.${model}: { input_per_mtok, output_per_mtok }` }];
}

/** Redis needs its address; the roles that split the daemon need Redis between them. */
function busProblems({ bus, server }: Config): Problem[] {
  if (bus.backend === 'redis' && !bus.redis_url) return [{ path: ['bus', 'redis_url'], message: 'bus.backend is redis but bus.redis_url is not set: set it, e.g. redis://127.0.0.1:6379' }];
  if (bus.backend === 'local' && server.role !== 'all') {
    return [{ path: ['server', 'role'], message: `server.role ${server.role} needs bus.backend: redis (the processes of a deployment meet in Redis); with the local bus, use role all` }];
  }
  return [];
}

/** True for 127.0.0.0/8, ::1 and localhost: the addresses only this machine reaches. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '::ffff:127.0.0.1';
}

function httpProblems({ server }: Config): Problem[] {
  if (server.http_port === undefined || isLoopback(server.http_host) || server.http_token) return [];
  return [
    {
      path: ['server', 'http_token'],
      message: `server.http_host is ${server.http_host}, beyond loopback, and server.http_token is not set: set server.http_token (anyone who reaches the port would read /metrics), or bind server.http_host: 127.0.0.1 behind a reverse proxy`,
    },
  ];
}

function webhookProblems({ channels, server }: Config): Problem[] {
  const problems: Problem[] = [];
  const paths = new Map<string, string>();
  for (const { key, settings } of accountsOf(channels).filter((a) => a.platform === 'telegram' && channels.telegram.enabled && a.enabled)) {
    const telegram = settings as Config['channels']['telegram'];
    if (telegram.mode !== 'webhook') continue;
    const at = (name: string) => [...key.split('.'), name];
    if (!telegram.webhook_url) problems.push({ path: at('webhook_url'), message: `${key}.mode is webhook but ${key}.webhook_url is not set: the public HTTPS URL Telegram should post to` });
    if (!telegram.webhook_secret) problems.push({ path: at('webhook_secret'), message: `${key}.mode is webhook but ${key}.webhook_secret is not set: set it to a random string, e.g. from \`openssl rand -hex 32\`` });
    if (server.http_port === undefined && telegram.webhook_port === undefined) {
      problems.push({ path: at('webhook_port'), message: `${key}.mode is webhook but nothing serves it: set server.http_port (shared with /healthz and /metrics) or ${key}.webhook_port` });
    }
    if (!telegram.webhook_url) continue;
    const path = new URL(telegram.webhook_url).pathname;
    const other = paths.get(path);
    if (other) problems.push({ path: at('webhook_url'), message: `${key}.webhook_url and ${other}.webhook_url have the same path (${path}): give each bot a path of its own` });
    paths.set(path, key);
  }
  return problems;
}

function accountNameProblems({ channels }: Config): Problem[] {
  return (['telegram', 'discord'] as const).flatMap((platform) =>
    'default' in channels[platform].accounts
      ? [{ path: ['channels', platform, 'accounts', 'default'], message: `channels.${platform}.accounts.default: the default account is channels.${platform}'s own keys (bot_token, ...); give this account another name` }]
      : [],
  );
}

/** Every account of both platforms with the key its settings live under, enabled or not. */
function accountsOf(channels: Config['channels']): Array<{ platform: 'telegram' | 'discord'; key: string; enabled: boolean; settings: { limits?: Config['channels']['telegram']['limits'] } }> {
  return (['telegram', 'discord'] as const).flatMap((platform) => [
    { platform, key: `channels.${platform}`, enabled: true, settings: channels[platform] },
    ...Object.entries(channels[platform].accounts).map(([name, settings]) => ({ platform, key: `channels.${platform}.accounts.${name}`, enabled: settings.enabled, settings })),
  ]);
}
