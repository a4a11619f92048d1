import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from './daemon.ts';

const run = promisify(execFile);
const PM2 = join(PROJECT_ROOT, 'node_modules', '.bin', 'pm2');

export interface Pm2Process {
  name: string;
  pid: number;
  pm2_env: { status: string; restart_time: number; exit_code?: number };
}

/**
 * pm2 (a devDependency) as users run it, with its own PM2_HOME in a temp folder, so no user's pm2
 * is touched, and MYBOT_WORKSPACE in the environment of each command. The folders are read at
 * each call: a test may make them in its beforeAll.
 */
export function pm2In(folders: () => { home: string; workspace: string }) {
  const pm2 = async (...args: string[]) => {
    const { home, workspace } = folders();
    return (await run(PM2, args, { cwd: PROJECT_ROOT, env: { ...process.env, PM2_HOME: home, MYBOT_WORKSPACE: workspace }, timeout: 90_000 })).stdout;
  };
  return { pm2, processes: async () => JSON.parse(await pm2('jlist')) as Pm2Process[] };
}
