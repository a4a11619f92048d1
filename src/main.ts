/**
 * mybot's entry point: `npm start` (the daemon), `npm run chat` (the terminal chat) and
 * `npm run status` (what the daemon running on the workspace is doing).
 * Options: --workspace DIR (or MYBOT_WORKSPACE), --chat; the command `status`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLE_CONFIG, USER_CONFIG } from './config/load.ts';
import { PROJECT_ROOT, resolveWorkspace } from './config/workspace.ts';

const argv = process.argv.slice(2);
const chat = argv.includes('--chat');

let workspace: string;
try {
  workspace = resolveWorkspace(argv, process.env);
} catch (err) {
  process.stderr.write(`mybot: ${(err as Error).message}\n`);
  process.exit(2);
}
if (argv[0] === 'status') {
  const { printStatus } = await import('./server/status.ts');
  process.exit(printStatus(workspace));
}
// the terminal chat owns stdout: its logs go to a file
if (chat && !process.env.MYBOT_LOG_FILE) process.env.MYBOT_LOG_FILE = join(workspace, 'logs', 'chat.log');

const { run } = await import('./server/run.ts');
await run({ workspace, chat, interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY), hint: () => hintFor(workspace) });

function hintFor(dir: string): string {
  const example = existsSync(join(dir, EXAMPLE_CONFIG)) ? join(dir, EXAMPLE_CONFIG) : join(PROJECT_ROOT, 'default_workspace', EXAMPLE_CONFIG);
  return `mybot: no ${join(dir, USER_CONFIG)}: create it from ${example} (cp ${example} ${join(dir, USER_CONFIG)}) and set llm.* and the channels you want`;
}
