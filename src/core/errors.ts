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

/** The LLM call failed. `transient` failures (timeout, 429, 5xx, reset) are worth another turn. */
export class LlmError extends MybotError {
  constructor(
    message: string,
    readonly transient: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A tool call the model made could not be carried out; its message goes back to the model. */
export class ToolError extends MybotError {}
