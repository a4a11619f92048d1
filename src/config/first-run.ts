import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { OPENAI_API_BASE } from './schema.ts';

/**
 * What readline echoes goes through here: muted while a secret is typed, as a password prompt is,
 * so an API key or a bot token never shows on the screen (or in a recorded terminal session).
 */
class EchoGate extends Writable {
  muted = false;

  constructor(private readonly out: NodeJS.WritableStream) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    if (!this.muted) this.out.write(chunk);
    done();
  }
}

/** Asks the few questions a first start needs, on a terminal, and writes config.user.yaml. */
export async function askForConfig(file: string, input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout): Promise<void> {
  // on a terminal readline echoes what is typed itself (raw mode), so it can stop echoing a secret
  const terminal = (input as NodeJS.ReadStream).isTTY === true;
  const echo = new EchoGate(output);
  const rl = createInterface({ input, output: echo, terminal, historySize: 0 });
  // raw mode turns Ctrl-C into a keystroke: give it back its meaning once the terminal is restored
  rl.on('SIGINT', () => {
    rl.close();
    process.kill(process.pid, 'SIGINT');
  });
  // an iterator buffers lines, so answers typed (or pasted) ahead of their question are kept
  const lines = rl[Symbol.asyncIterator]();
  const ask = async (question: string, fallback = '', secret = false) => {
    rl.setPrompt(fallback ? `${question} [${fallback}]: ` : `${question}: `);
    rl.prompt();
    echo.muted = secret && terminal;
    const next = await lines.next();
    if (echo.muted) {
      echo.muted = false;
      // readline's own newline went to the muted echo
      output.write('\n');
    }
    return (next.done ? '' : String(next.value).trim()) || fallback;
  };
  try {
    output.write(`No ${file} yet: a few questions to create it (Enter keeps the default; keys and tokens are not shown as you type).\n`);
    const apiBase = await ask('LLM endpoint (OpenAI-compatible base URL)', OPENAI_API_BASE);
    const model = await ask('Model', 'gpt-4o-mini');
    const apiKey = await ask('API key (empty to use OPENAI_API_KEY or none)', '', true);
    const telegram = await ask('Telegram bot token from @BotFather (empty to skip)', '', true);
    const discord = await ask('Discord bot token (empty to skip)', '', true);
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
