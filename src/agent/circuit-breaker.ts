/** Consecutive failed calls after which a model is skipped for llm.cooldown_s. */
export const FAILURES_TO_OPEN = 3;

/**
 * Per model: closed while calls succeed; open (skipped) for the cooldown once FAILURES_TO_OPEN
 * calls in a row failed; then half-open: one call tries the model again, and its outcome closes
 * the breaker or opens it for another cooldown. Meanwhile the other calls skip it.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private probing = false;

  constructor(
    private readonly cooldownMs: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a call may go to this model now; true for at most one call at a time once the cooldown is over. */
  tryAcquire(): boolean {
    if (this.failures < FAILURES_TO_OPEN) return true;
    if (this.now() < this.openUntil || this.probing) return false;
    this.probing = true;
    return true;
  }

  /** The call answered. True when that closed an open breaker. */
  succeeded(): boolean {
    const wasOpen = this.failures >= FAILURES_TO_OPEN;
    this.failures = 0;
    this.probing = false;
    return wasOpen;
  }

  /** The call failed in a way that says the model is in trouble. True when that opened the breaker. */
  failed(): boolean {
    this.failures++;
    this.probing = false;
    if (this.failures < FAILURES_TO_OPEN) return false;
    this.openUntil = this.now() + this.cooldownMs();
    return true;
  }

  /** The call ended for a reason that says nothing about the model (cancelled, or refused as a bad request). */
  release(): void {
    this.probing = false;
  }

  get isOpen(): boolean {
    return this.failures >= FAILURES_TO_OPEN && this.now() < this.openUntil;
  }
}
