import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * A small real ext4 file system on a loop device, mounted with `errors=remount-ro`, to give a
 * running daemon real disk trouble: `fill()` makes writes fail with ENOSPC (partial writes
 * included), `breakFs()` makes the kernel remount it read-only exactly as after an I/O error, so
 * even files already open for writing get EROFS. Needs root and loop devices (see `available`).
 */
export class LoopDisk {
  private filler = 0;

  private constructor(
    readonly dir: string,
    private readonly image: string,
  ) {}

  /** Why a loop disk cannot be made here, or undefined when it can. */
  static unavailable(): string | undefined {
    if (process.platform !== 'linux') return 'not Linux';
    if (process.getuid?.() !== 0) return 'not root (mount needs it)';
    try {
      LoopDisk.create(4).dispose();
      return undefined;
    } catch (err) {
      return `cannot mount a loop device here: ${(err as Error).message.split('\n')[0]}`;
    }
  }

  static create(sizeMb = 16): LoopDisk {
    const base = mkdtempSync(join(tmpdir(), 'mybot-disk-'));
    const image = join(base, 'disk.img');
    const dir = join(base, 'mnt');
    run('truncate', ['-s', `${sizeMb}M`, image]);
    // -m 0: no blocks reserved for root, so "full" is full for the daemon too (it runs as root here)
    run('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
    run('mkdir', ['-p', dir]);
    const disk = new LoopDisk(dir, image);
    disk.mount();
    return disk;
  }

  /** Writes a filler file until the disk refuses: every later write fails with ENOSPC. */
  fill(): void {
    const fd = openSync(join(this.dir, `filler-${++this.filler}`), 'w');
    const block = Buffer.alloc(64 * 1024, 0x61);
    try {
      for (;;) writeSync(fd, block);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      closeSync(fd);
    }
    // the last block may have left a few bytes: take them too
    try {
      writeFileSync(join(this.dir, `filler-${++this.filler}`), Buffer.alloc(4096));
    } catch {
      // full already
    }
  }

  /** Frees the space `fill` took. */
  free(): void {
    for (let i = 1; i <= this.filler; i++) rmSync(join(this.dir, `filler-${i}`), { force: true });
    this.filler = 0;
  }

  /** An ext4 error: with errors=remount-ro the kernel makes the file system read-only at once. */
  breakFs(): void {
    const device = basename(run('findmnt', ['-n', '-o', 'SOURCE', this.dir]).trim());
    writeFileSync(`/sys/fs/ext4/${device}/trigger_fs_error`, 'mybot test: simulated I/O error\n');
  }

  /** Unmounts and mounts again (read-write), as an owner would after fixing the disk; no process may hold a file on it. */
  remount(): void {
    run('umount', [this.dir]);
    // e2fsck exits 1 when it fixed something: the error this test caused on purpose
    const fsck = spawnSync('e2fsck', ['-f', '-y', this.image], { encoding: 'utf8' });
    if (fsck.status === null || fsck.status > 2) throw new Error(`e2fsck failed: ${fsck.stdout}${fsck.stderr}`);
    this.mount();
  }

  dispose(): void {
    if (spawnSync('mountpoint', ['-q', this.dir]).status === 0 && spawnSync('umount', [this.dir]).status !== 0) run('umount', ['-l', this.dir]);
    rmSync(join(this.dir, '..'), { recursive: true, force: true });
  }

  private mount(): void {
    run('mount', ['-o', 'loop,errors=remount-ro', this.image, this.dir]);
  }
}
