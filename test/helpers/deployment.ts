import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, type DaemonOptions, type LogLine } from './daemon.ts';
import type { RedisServer } from './redis-server.ts';

export type Role = 'gateway' | 'agent' | 'all';

/**
 * A deployment as the README's "Run on several processes" describes it: processes of the real
 * daemon on one workspace and one config (bus.backend redis), each given its role with MYBOT_ROLE,
 * as the pm2 file does.
 */
export class Deployment {
  readonly workspace = mkdtempSync(join(tmpdir(), 'mybot-deploy-'));
  readonly processes: Array<{ role: Role; daemon: Daemon }> = [];

  constructor(
    readonly redis: RedisServer,
    /** config.user.yaml without the bus section, which the deployment adds. */
    private readonly config: () => Record<string, unknown>,
    private readonly bus: Record<string, unknown> = {},
  ) {}

  fullConfig(): Record<string, unknown> {
    const config = this.config();
    return { ...config, bus: { backend: 'redis', redis_url: this.redis.url, claim_idle_ms: 2000, ...this.bus } };
  }

  /** Starts a process of `role` and waits until it is up; `extra` adds to how it is started (a clock preload, a benchmark's entry, say). */
  async start(role: Role, extra: Pick<DaemonOptions, 'env' | 'nodeArgs' | 'entry'> = {}): Promise<Daemon> {
    const daemon = this.spawn(role, extra);
    await daemon.ready();
    return daemon;
  }

  /** Starts a process of `role`; does not wait for it to be up. */
  spawn(role: Role, extra: Pick<DaemonOptions, 'env' | 'nodeArgs' | 'entry'> = {}): Daemon {
    const daemon = Daemon.spawn({ config: this.fullConfig(), workspace: this.workspace, ...extra, env: { ...extra.env, MYBOT_ROLE: role } });
    this.processes.push({ role, daemon });
    return daemon;
  }

  of(role: Role): Daemon[] {
    return this.processes.filter((p) => p.role === role && p.daemon.exitCode === undefined).map((p) => p.daemon);
  }

  /** Every line every process logged, for assertions over the deployment. */
  lines(): LogLine[] {
    return this.processes.flatMap((p) => p.daemon.lines);
  }

  /** Warnings and errors of every process, one line each, to say why a wait failed. */
  problems(): string[] {
    return this.processes.flatMap((p) => p.daemon.lines.filter((l) => l.level >= 40).map((l) => `${p.role}: ${JSON.stringify(l).slice(0, 400)}`));
  }

  async dispose(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.daemon.kill()));
    rmSync(this.workspace, { recursive: true, force: true });
  }
}
