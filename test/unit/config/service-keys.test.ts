import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { accountOfChannel, enabledAccounts, telegramSettings } from '../../../src/channels/accounts.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { ConfigError } from '../../../src/core/errors.ts';

const LOCAL_LLM = 'llm: {api_base: "http://127.0.0.1:1/v1", model: m}\n';
const dirs: string[] = [];

function load(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-config-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'config.user.yaml'), yaml.startsWith('llm:') ? yaml : `${LOCAL_LLM}${yaml}`);
  return loadConfig(dir, env);
}

function refusal(yaml: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    load(yaml, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the keys of issue 20 in config.user.yaml', () => {
  it('server.http_host beyond loopback without server.http_token is refused, naming the key', () => {
    const error = refusal('server: {http_port: 9100, http_host: 0.0.0.0}\n');
    expect(error.key).toBe('server.http_token');
    expect(error.message).toMatch(/server\.http_host is 0\.0\.0\.0, beyond loopback, and server\.http_token is not set/);
    expect(load('server: {http_port: 9100, http_host: 0.0.0.0, http_token: t0ken}\n').server.http_token).toBe('t0ken');
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) expect(load(`server: {http_port: 9100, http_host: "${host}"}\n`).server.http_host).toBe(host);
  });

  it('the same token in two accounts is refused, naming both keys', () => {
    const error = refusal('channels: {telegram: {enabled: true, bot_token: "1:same", accounts: {work: {bot_token: "1:same"}}}}\n');
    expect(error.message).toContain('channels.telegram.bot_token and channels.telegram.accounts.work.bot_token are the same token');
    const fromEnv = refusal('channels: {discord: {enabled: true, accounts: {a: {bot_token: x1}, b: {bot_token: x1}}}}\n');
    expect(fromEnv.message).toContain('channels.discord.accounts.a.bot_token and channels.discord.accounts.b.bot_token are the same token');
  });

  it('a named account needs a token; `default` is not a name; the default account runs only with a token once others exist', () => {
    expect(refusal('channels: {telegram: {enabled: true, accounts: {work: {}}}}\n').key).toBe('channels.telegram.accounts.work.bot_token');
    expect(refusal('channels: {telegram: {enabled: true, bot_token: "1:a", accounts: {default: {bot_token: "1:b"}}}}\n').message).toMatch(/accounts\.default: the default account is channels\.telegram's own keys/);
    expect(refusal('channels: {telegram: {enabled: true, accounts: {Work: {bot_token: "1:b"}}}}\n').message).toMatch(/an account name is 1-32 characters/);
    const onlyNamed = load('channels: {telegram: {enabled: true, api_root: "http://tg.test", accounts: {work: {bot_token: "1:b"}}}}\n');
    expect(enabledAccounts(onlyNamed, 'telegram').map((a) => a.channel)).toEqual(['telegram.work']);
    expect(telegramSettings(onlyNamed, 'work')?.api_root).toBe('http://tg.test');
    const both = load('channels: {telegram: {enabled: true, accounts: {work: {bot_token: "1:b"}, off: {enabled: false}}}}\n', { TELEGRAM_BOT_TOKEN: '1:a' });
    expect(enabledAccounts(both, 'telegram').map((a) => a.channel)).toEqual(['telegram', 'telegram.work']);
    expect(accountOfChannel('telegram.work')).toMatchObject({ platform: 'telegram', account: 'work', configKey: 'channels.telegram.accounts.work' });
    expect(accountOfChannel('terminal')).toBeUndefined();
  });

  it('webhook mode needs webhook_url, webhook_secret and a port to serve it on; two bots need two paths', () => {
    const base = 'channels: {telegram: {enabled: true, bot_token: "1:a", mode: webhook';
    expect(refusal(`${base}}}\n`).message).toMatch(/channels\.telegram\.mode is webhook but channels\.telegram\.webhook_url is not set/);
    expect(refusal(`${base}, webhook_url: "https://bot.test/tg"}}\n`).key).toBe('channels.telegram.webhook_secret');
    expect(refusal(`${base}, webhook_url: "https://bot.test/tg", webhook_secret: s3cret}}\n`).message).toMatch(/set server\.http_port .* or channels\.telegram\.webhook_port/);
    expect(refusal(`${base}, webhook_url: "https://bot.test/tg", webhook_secret: "not allowed!"}}\n`).key).toBe('channels.telegram.webhook_secret');
    const same = `${base}, webhook_url: "https://bot.test/tg", webhook_secret: s, accounts: {b: {bot_token: "1:b", mode: webhook, webhook_url: "https://other.test/tg", webhook_secret: s}}}}\nserver: {http_port: 0}\n`;
    expect(refusal(same).message).toMatch(/webhook_url and channels\.telegram\.webhook_url have the same path \(\/tg\)/);
    expect(load(`${base}, webhook_url: "https://bot.test/tg", webhook_secret: s3cret}}\nserver: {http_port: 0}\n`).channels.telegram.mode).toBe('webhook');
  });

  it('a cost_per_day limit needs a price for every fallback model too', () => {
    const error = refusal('llm: {api_base: "http://127.0.0.1:1/v1", model: m, fallbacks: [{model: cheap}]}\nlimits: {per_user: {cost_per_day: 1}, prices: {m: {input_per_mtok: 1, output_per_mtok: 1}}}\n');
    expect(error.message).toContain("limits.per_user.cost_per_day is set but there is no price for the model 'cheap' (llm.fallbacks.0.model)");
  });
});
