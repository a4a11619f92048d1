import { spawn } from 'node:child_process';
import { z } from 'zod';
import { defineTool, type Tool } from './tool.ts';

export interface BashSettings {
  timeout_s: number;
  max_output_chars: number;
}

/** Runs a shell command in the workspace. Only offered when tools.bash.enabled is true. */
export function bashTool(workspace: string, settings: () => BashSettings): Tool {
  return defineTool({
    name: 'bash',
    description: 'Run a bash command with the workspace as the working directory. Returns exit code and output.',
    schema: z.object({ command: z.string().min(1) }),
    run({ command }, signal) {
      const { timeout_s, max_output_chars } = settings();
      return new Promise((resolve) => {
        const child = spawn('bash', ['-c', command], { cwd: workspace, signal, timeout: timeout_s * 1000, killSignal: 'SIGKILL' });
        let output = '';
        const collect = (chunk: Buffer) => {
          if (output.length < max_output_chars) output += chunk.toString('utf8');
        };
        child.stdout.on('data', collect);
        child.stderr.on('data', collect);
        child.on('error', (err) => resolve(`Error: ${err.message}`));
        child.on('close', (code, sig) => {
          const clipped = output.length > max_output_chars ? `${output.slice(0, max_output_chars)}\n[output cut at ${max_output_chars} characters]` : output;
          const status = sig ? `killed by ${sig}${sig === 'SIGKILL' ? ` (timeout ${timeout_s} s)` : ''}` : `exit code ${code}`;
          resolve(`${status}\n${clipped}`);
        });
      });
    },
  });
}
