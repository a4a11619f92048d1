import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { OPENAI_API_BASE } from './schema.ts';

/** Asks the few questions a first start needs, on a terminal, and writes config.user.yaml. */
export async function askForConfig(file: string, input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout): Promise<void> {
  const rl = createInterface({ input, terminal: false });
  // an iterator buffers lines, so answers typed (or pasted) ahead of their question are kept
  const lines = rl[Symbol.asyncIterator]();
  const ask = async (question: string, fallback = '') => {
    output.write(fallback ? `${question} [${fallback}]: ` : `${question}: `);
    const next = await lines.next();
    return (next.done ? '' : String(next.value).trim()) || fallback;
  };
  try {
    output.write(`No ${file} yet: a few questions to create it (Enter keeps the default).\n`);
    const apiBase = await ask('LLM endpoint (OpenAI-compatible base URL)', OPENAI_API_BASE);
    const model = await ask('Model', 'gpt-4o-mini');
    const apiKey = await ask('API key (empty to use OPENAI_API_KEY or none)');
    const telegram = await ask('Telegram bot token from @BotFather (empty to skip)');
    const discord = await ask('Discord bot token (empty to skip)');
    const config = {
      llm: { api_base: apiBase, model, ...(apiKey ? { api_key: apiKey } : {}) },
      channels: {
        telegram: { enabled: Boolean(telegram), ...(telegram ? { bot_token: telegram } : {}), allowed_user_ids: [] },
        discord: { enabled: Boolean(discord), ...(discord ? { bot_token: discord } : {}), allowed_user_ids: [] },
      },
    };
    writeFileSync(file, `# written by mybot's first start; see config.example.yaml for every key\n${stringify(config)}`, { mode: 0o600 });
    output.write(`Wrote ${file}.\n`);
  } finally {
    rl.close();
  }
}
