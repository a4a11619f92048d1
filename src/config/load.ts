import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { configSchema, OPENAI_API_BASE, type Config } from './schema.ts';

export const USER_CONFIG = 'config.user.yaml';
export const RUNTIME_CONFIG = 'config.runtime.yaml';
export const EXAMPLE_CONFIG = 'config.example.yaml';
const MAX_CONFIG_BYTES = 1024 * 1024;

type Plain = Record<string, unknown>;

/** Reads config.user.yaml with config.runtime.yaml merged over it, validates it, fills secrets from the environment. */
export function loadConfig(workspace: string, env: NodeJS.ProcessEnv = process.env): Config {
  const userPath = join(workspace, USER_CONFIG);
  if (!existsSync(userPath)) {
    throw new ConfigError(
      `${userPath} does not exist: create it with \`cp ${join(workspace, EXAMPLE_CONFIG)} ${userPath}\` and edit it (or run \`npm start\` in a terminal to be asked)`,
      userPath,
    );
  }
  const user = readYaml(userPath);
  const runtimePath = join(workspace, RUNTIME_CONFIG);
  const runtime = existsSync(runtimePath) ? readYaml(runtimePath) : {};
  const merged = deepMerge(user, runtime);
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join('.') || '(top level)';
    const offending = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
    const file = offending.length > 0 && pathHas(runtime, offending) ? runtimePath : userPath;
    throw new ConfigError(`${file}: ${key}: ${describeIssue(issue)}`, file, offending.join('.') || key);
  }
  return withSecretsFromEnv(parsed.data, env, userPath);
}

function readYaml(file: string): Plain {
  let text: string;
  try {
    // checked before reading: a multi-gigabyte file must not be read into memory to be refused
    if (statSync(file).size > MAX_CONFIG_BYTES) throw new ConfigError(`${file}: file is larger than 1 MB; is it the right file?`, file);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}): check that it exists and that mybot may read it`, file);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const where = first.linePos?.[0] ? ` (line ${first.linePos[0].line}, column ${first.linePos[0].col})` : '';
    throw new ConfigError(`${file}: invalid YAML${where}: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, file);
  }
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    // yaml refuses aliases that expand without bound ("billion laughs"), here and not while parsing
    throw new ConfigError(`${file}: invalid YAML: ${err instanceof Error ? err.message : String(err)}`, file);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`${file}: expected a mapping of keys (llm:, channels:, ...) at the top level`, file);
  }
  return value as Plain;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
  // a record key that failed its own check (an account name): its check says why
  if (issue.code === 'invalid_key') return `${issue.issues[0]?.message ?? issue.message}`;
  return issue.message;
}

function pathHas(value: unknown, path: PropertyKey[]): boolean {
  let node = value;
  for (const key of path) {
    // own keys only: `'constructor' in {}` is true, and would blame the wrong file
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return false;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return true;
}

export function deepMerge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlain(current) && isPlain(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function isPlain(value: unknown): value is Plain {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function withSecretsFromEnv(config: Config, env: NodeJS.ProcessEnv, file: string): Config {
  const { llm, channels } = config;
  llm.api_key ||= env.OPENAI_API_KEY;
  channels.telegram.bot_token ||= env.TELEGRAM_BOT_TOKEN;
  channels.discord.bot_token ||= env.DISCORD_BOT_TOKEN;
  if (!llm.api_key && llm.api_base === OPENAI_API_BASE) {
    throw new ConfigError(`${file}: llm.api_key is missing: set it, or the OPENAI_API_KEY environment variable (or point llm.api_base at a server that needs no key)`, file, 'llm.api_key');
  }
  const hasAccounts = (platform: 'telegram' | 'discord') => Object.keys(channels[platform].accounts).length > 0;
  if (channels.telegram.enabled && !channels.telegram.bot_token && !hasAccounts('telegram')) {
    throw new ConfigError(`${file}: channels.telegram.bot_token is missing: set it, or TELEGRAM_BOT_TOKEN (from @BotFather), or set channels.telegram.enabled: false`, file, 'channels.telegram.bot_token');
  }
  if (channels.discord.enabled && !channels.discord.bot_token && !hasAccounts('discord')) {
    throw new ConfigError(`${file}: channels.discord.bot_token is missing: set it, or DISCORD_BOT_TOKEN (Developer Portal → your app → Bot → Reset Token), or set channels.discord.enabled: false`, file, 'channels.discord.bot_token');
  }
  checkAccountTokens(config, file);
  return config;
}

/** Every named account that runs needs a token, and no two bots share one: one token is one bot, whose updates only one poller gets. */
function checkAccountTokens(config: Config, file: string): void {
  for (const platform of ['telegram', 'discord'] as const) {
    const block = config.channels[platform];
    const owners = new Map<string, string>();
    if (block.bot_token) owners.set(block.bot_token, `channels.${platform}.bot_token`);
    for (const [name, account] of Object.entries(block.accounts)) {
      const key = `channels.${platform}.accounts.${name}.bot_token`;
      if (!account.bot_token) {
        if (block.enabled && account.enabled) throw new ConfigError(`${file}: ${key} is missing: set it, or set channels.${platform}.accounts.${name}.enabled: false`, file, key);
        continue;
      }
      const other = owners.get(account.bot_token);
      if (other) throw new ConfigError(`${file}: ${other} and ${key} are the same token: each account is a bot of its own, with a token of its own`, file, key);
      owners.set(account.bot_token, key);
    }
  }
}

/** Every secret the config holds, for the log's redaction: keys, tokens, webhook secrets. */
export function secretsOf(config: Config): Array<string | undefined> {
  const { llm, channels, server } = config;
  const accounts = [channels.telegram, ...Object.values(channels.telegram.accounts), channels.discord, ...Object.values(channels.discord.accounts)];
  return [
    llm.api_key,
    llm.transcription_api_key,
    ...llm.fallbacks.map((f) => f.api_key),
    server.http_token,
    redisPassword(config.bus.redis_url),
    ...accounts.map((a) => a.bot_token),
    ...[channels.telegram, ...Object.values(channels.telegram.accounts)].map((a) => a.webhook_secret),
  ];
}

/** The password in a redis:// URL, if any: a secret like the others. */
function redisPassword(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}
