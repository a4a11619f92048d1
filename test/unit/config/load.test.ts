import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.ts';
import { ConfigError } from '../../../src/core/errors.ts';

function workspaceWith(user: string | undefined, runtime?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-config-'));
  if (user !== undefined) writeFileSync(join(dir, 'config.user.yaml'), user);
  if (runtime !== undefined) writeFileSync(join(dir, 'config.runtime.yaml'), runtime);
  return dir;
}

function errorOf(dir: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfig(dir, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const LOCAL_LLM = 'llm: {api_base: "http://127.0.0.1:1/v1", model: m}\n';

describe('loadConfig', () => {
  it('fills defaults and merges config.runtime.yaml over config.user.yaml', () => {
    const dir = workspaceWith(`${LOCAL_LLM}channels: {telegram: {allowed_user_ids: [123, "456"]}}\n`, 'llm: {model: other}\n');
    const config = loadConfig(dir, {});
    expect(config.llm).toMatchObject({ model: 'other', api_base: 'http://127.0.0.1:1/v1', timeout_s: 60, max_retries: 2 });
    expect(config.channels.telegram.allowed_user_ids).toEqual(['123', '456']);
    expect(config.tools.bash.enabled).toBe(false);
  });

  it('takes secrets from the environment', () => {
    const dir = workspaceWith('channels: {telegram: {enabled: true}}\n');
    const config = loadConfig(dir, { OPENAI_API_KEY: 'sk-from-env', TELEGRAM_BOT_TOKEN: '1:tok' });
    expect(config.llm.api_key).toBe('sk-from-env');
    expect(config.channels.telegram.bot_token).toBe('1:tok');
  });

  it.each([
    ['a missing file', undefined, undefined, /config\.user\.yaml does not exist: create it with `cp .*config\.example\.yaml/],
    ['invalid YAML', 'llm: {model: [unclosed\n', undefined, /config\.user\.yaml: invalid YAML \(line \d+, column \d+\)/],
    ['tabs for indentation', 'llm:\n\tmodel: x\n', undefined, /config\.user\.yaml: invalid YAML/],
    ['a wrong type', `${LOCAL_LLM.replace('model: m', 'model: m, timeout_s: "soon"')}`, undefined, /config\.user\.yaml: llm\.timeout_s: .*expected number/],
    ['an unknown key', `${LOCAL_LLM}chanels: {}\n`, undefined, /config\.user\.yaml: \(top level\): unknown key 'chanels'/],
    ['an unknown nested key', `${LOCAL_LLM}channels: {telegram: {token: x}}\n`, undefined, /channels\.telegram: unknown key 'token'/],
    ['a bad URL', 'llm: {api_base: not-a-url}\n', undefined, /llm\.api_base: /],
    ['a scalar top level', 'just text\n', undefined, /expected a mapping/],
    ['an error in the runtime file', LOCAL_LLM, 'llm: {max_retries: -1}\n', /config\.runtime\.yaml: llm\.max_retries: /],
    ['no API key for OpenAI', 'llm: {model: m}\n', undefined, /llm\.api_key is missing: set it, or the OPENAI_API_KEY/],
    ['an enabled channel without token', `${LOCAL_LLM}channels: {discord: {enabled: true}}\n`, undefined, /channels\.discord\.bot_token is missing.*DISCORD_BOT_TOKEN/],
  ])('names the file, the key and what was expected: %s', (_name, user, runtime, message) => {
    const error = errorOf(workspaceWith(user, runtime));
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('\n');
  });

  it('refuses a 10 MB file without parsing it', () => {
    const error = errorOf(workspaceWith(`# ${'x'.repeat(10 * 1024 * 1024)}\n`));
    expect(error.message).toMatch(/larger than 1 MB/);
  });

  it('refuses a cost limit without a price for the model, naming the key to add', () => {
    const dir = workspaceWith(`${LOCAL_LLM}limits: {per_user: {cost_per_day: 0.5}, prices: {other: {input_per_mtok: 1, output_per_mtok: 2}}}\n`);
    const error = errorOf(dir);
    expect(error.key).toBe('limits.prices');
    expect(error.message).toMatch(/limits\.per_user\.cost_per_day is set but there is no price for the model 'm' \(llm\.model\): add limits\.prices\.m: \{ input_per_mtok, output_per_mtok \}/);
  });

  it('reads access policies: an empty allowlist leaves dm_policy unset (pairing), groups on the list', () => {
    const config = loadConfig(workspaceWith(`${LOCAL_LLM}channels: {discord: {owner_user_ids: ["80351110224678912"], dm_policy: open}}\n`), {});
    expect(config.channels.telegram).toMatchObject({ allowed_user_ids: [], owner_user_ids: [], group_policy: 'allowlist' });
    expect(config.channels.telegram.dm_policy).toBeUndefined();
    expect(config.channels.discord).toMatchObject({ owner_user_ids: ['80351110224678912'], dm_policy: 'open' });
    expect(errorOf(workspaceWith(`${LOCAL_LLM}channels: {telegram: {dm_policy: everyone}}\n`)).key).toBe('channels.telegram.dm_policy');
  });
});
