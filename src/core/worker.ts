export type WorkerState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' | 'crashed';

/** A long-running part of the daemon: a channel, the agent, delivery. */
export interface Worker {
  readonly name: string;
  /** Resolves once the worker is doing its job (connected, subscribed). */
  start(): Promise<void>;
  /** Stops taking new work and finishes what is in flight. */
  stop(): Promise<void>;
  /** Set by the supervisor: a worker calls it when it dies on its own after `start`. */
  onCrash?: (error: unknown) => void;
}
