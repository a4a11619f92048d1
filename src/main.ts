/**
 * mybot's entry point: `npm start` (the daemon), `npm run chat` (the terminal chat),
 * `npm run status` (what the daemon running on the workspace is doing) and `npm run pair`
 * (approve, list and revoke paired users).
 * Options: --workspace DIR (or MYBOT_WORKSPACE), --role ROLE (or MYBOT_ROLE), --chat; the commands `status` and `pair`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { EXAMPLE_CONFIG, USER_CONFIG } from './config/load.ts';
import { PROJECT_ROOT, resolveWorkspace } from './config/workspace.ts';

// V8 lets the heap grow to about 4x what is live before a full collection, and keeps the pages:
// after a busy minute a daemon with 50 MB live sat at 330 MB RSS. 1.5x keeps it near what is live,
// with no throughput lost (bench/RESULTS.md: memory, soak). V8 reads it at every collection.
setFlagsFromString('--heap-growing-percent=50');

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
  process.exit(await printStatus(workspace));
}
if (argv[0] === 'pair') {
  const { runPairCli } = await import('./server/pair-cli.ts');
  process.exit(runPairCli(workspace, withoutWorkspaceFlag(argv.slice(1))));
}
// the terminal chat owns stdout: its logs go to a file
if (chat && !process.env.MYBOT_LOG_FILE) process.env.MYBOT_LOG_FILE = join(workspace, 'logs', 'chat.log');

const role = roleOf(argv, process.env);
const { run } = await import('./server/run.ts');
await run({ workspace, chat, ...(role ? { role } : {}), interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY), hint: () => hintFor(workspace) });

/**
 * --role ROLE or MYBOT_ROLE: server.role for this process only, so the processes of a deployment
 * (one gateway, N agents) share one workspace and one config file.
 */
function roleOf(args: string[], env: NodeJS.ProcessEnv): 'all' | 'gateway' | 'agent' | undefined {
  const at = args.findIndex((a) => a === '--role' || a.startsWith('--role='));
  const value = at < 0 ? env.MYBOT_ROLE || undefined : args[at] === '--role' ? args[at + 1] : args[at]!.slice('--role='.length);
  if (value === undefined) return undefined;
  if (value === 'all' || value === 'gateway' || value === 'agent') return value;
  process.stderr.write(`mybot: ${at < 0 ? 'MYBOT_ROLE' : '--role'} is '${value}': it must be all, gateway or agent\n`);
  process.exit(2);
}

function withoutWorkspaceFlag(args: string[]): string[] {
  const at = args.findIndex((a) => a === '--workspace' || a.startsWith('--workspace='));
  if (at < 0) return args;
  return [...args.slice(0, at), ...args.slice(at + (args[at] === '--workspace' ? 2 : 1))];
}

function hintFor(dir: string): string {
  const example = existsSync(join(dir, EXAMPLE_CONFIG)) ? join(dir, EXAMPLE_CONFIG) : join(PROJECT_ROOT, 'default_workspace', EXAMPLE_CONFIG);
  return `mybot: no ${join(dir, USER_CONFIG)}: create it from ${example} (cp ${example} ${join(dir, USER_CONFIG)}) and set llm.* and the channels you want`;
}
