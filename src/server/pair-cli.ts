import { existsSync } from 'node:fs';
import { runPairAction } from '../channels/pair-actions.ts';
import { PairingStore } from '../channels/pairing-store.ts';
import { workspacePaths } from '../config/workspace.ts';

/**
 * `npm run pair -- approve <code> | list | revoke <user id>` on the workspace's pairing file. The
 * daemon may be running: it notices the change at the user's next message. Exit codes: 0 done,
 * 1 refused (unknown code, unknown user), 2 bad usage or an unreadable file.
 */
export function runPairCli(workspace: string, args: readonly string[]): number {
  const paths = workspacePaths(workspace);
  if (!existsSync(paths.state)) {
    process.stderr.write(`mybot: ${workspace} has no .mybot/ folder: is it the workspace the daemon runs on? Pass --workspace DIR or set MYBOT_WORKSPACE\n`);
    return 2;
  }
  try {
    // locked even beside a single daemon: cheap, and right when several processes share the workspace
    const result = runPairAction(new PairingStore(paths.pairing, Date.now, { shared: true }), args, 'cli', 'npm run pair --');
    (result.ok ? process.stdout : process.stderr).write(`${result.text}\n`);
    return result.ok ? 0 : result.text.startsWith('usage:') ? 2 : 1;
  } catch (err) {
    process.stderr.write(`mybot: ${(err as Error).message}\n`);
    return 2;
  }
}
