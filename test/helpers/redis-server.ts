import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.ts';

/**
 * A real redis-server of the test's own, on a free loopback port with its data in a temp folder
 * (append-only file on, as the README tells users), with a password when given (then in `url`).
 * `stop` shuts it down as an operator would (SHUTDOWN: it writes its data first); `start` again
 * brings it back on the same port and data.
 */
export class RedisServer {
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly password?: string,
  ) {}

  static async start(options: { password?: string } = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'mybot-redis-')), options.password);
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://${this.password ? `:${encodeURIComponent(this.password)}@` : ''}127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--daemonize', 'no', '--logfile', '', ...(this.password ? ['--requirepass', this.password] : [])];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    const failed = new Promise<never>((_, reject) =>
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new Error('redis-server is not installed: sudo apt-get install -y redis-server (README "Set up"; .ci/run does it)') : err),
      ),
    );
    failed.catch(() => undefined);
    await Promise.race([failed, waitFor(() => this.output.includes('Ready to accept connections') || child.exitCode !== null, 10_000, 'redis-server to accept connections')]);
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}:\n${this.output}`);
  }

  /** Sends a command (after AUTH, with a password) and returns the raw reply (enough for SHUTDOWN, DBSIZE and the like). */
  async command(...args: string[]): Promise<string> {
    const socket = new Socket();
    await new Promise<void>((resolve, reject) => socket.once('error', reject).connect(this.port, '127.0.0.1', () => resolve()));
    if (this.password) await send(socket, ['AUTH', this.password]);
    const text = await send(socket, args);
    socket.destroy();
    return text;
  }

  /** SHUTDOWN: the data is written, the port closes, every client sees the connection drop. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await this.command('SHUTDOWN').catch(() => undefined);
    await exited;
    this.child = undefined;
  }

  async dispose(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Writes one command and resolves with its raw reply. */
function send(socket: Socket, args: string[]): Promise<string> {
  const reply = new Promise<string>((resolve) => {
    let data = '';
    const onData = (chunk: Buffer) => {
      data += chunk.toString('utf8');
      if (!data.endsWith('\r\n')) return;
      socket.off('data', onData).off('close', onClose);
      resolve(data);
    };
    const onClose = () => resolve(data);
    socket.on('data', onData).on('close', onClose);
  });
  socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  return reply;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
