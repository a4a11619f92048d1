/** Base of every error mybot raises on purpose: the message says what failed and how to fix it. */
export class MybotError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A config file that cannot be used; `file` and `key` say where. */
export class ConfigError extends MybotError {
  constructor(
    message: string,
    readonly file?: string,
    readonly key?: string,
  ) {
    super(message);
  }
}

/**
 * A platform refused or could not be reached. `retryable` says whether trying later can help;
 * `fatal` says that not even a restart can (a revoked token, an intent switched off): the
 * supervisor then stops the daemon with this message instead of restarting the worker.
 */
export class ChannelError extends MybotError {
  readonly fatal: boolean;

  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown; fatal?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.fatal = options?.fatal ?? false;
  }
}

/** An error after which restarting the worker cannot help: the owner has to change something. */
export function isFatal(error: unknown): boolean {
  return error instanceof ChannelError && error.fatal;
}

/**
 * The LLM call failed. `transient` failures (timeout, 408, 409, 429, 5xx, reset) are worth another
 * turn; the rest (400, 401, 403, 404, 413, 422) fail the same way again. `status` is the HTTP status
 * the endpoint answered, `retryAfterMs` how long it asked to wait (429).
 */
export class LlmError extends MybotError {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    readonly transient: boolean,
    options?: { cause?: unknown; status?: number; retryAfterMs?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = options?.status;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** A tool call the model made could not be carried out; its message goes back to the model. */
export class ToolError extends MybotError {}

const DISK_REASONS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the disk',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error',
};

/**
 * The workspace could not be written: disk full, read-only file system, permissions. `code` is the
 * errno name (ENOSPC, EROFS, ...). What was already written stays valid; the write is what failed.
 */
export class StorageError extends MybotError {
  constructor(
    message: string,
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Wraps a failed write of `path` as a StorageError that names the file, the cause and the fix. */
export function storageError(error: unknown, what: string, path: string): StorageError {
  if (error instanceof StorageError) return error;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const reason = (code && DISK_REASONS[code]) ?? (error instanceof Error ? error.message : String(error));
  return new StorageError(`cannot write ${what} ${path} (${code ?? 'error'}: ${reason}): free disk space or make the workspace writable`, code, { cause: error });
}

/** A write failed because of the disk (full, read-only, permissions, I/O), not because of what was written. */
export function isStorageTrouble(error: unknown): boolean {
  if (error instanceof StorageError) return true;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && code in DISK_REASONS;
}
