/** Discord's heartbeat interval (HELLO), until the gateway tells this connection its own. */
const DEFAULT_HEARTBEAT_MS = 41_250;
/** discord.js logs the interval HELLO gave: `First heartbeat sent, starting to beat every 41250ms`. */
const HEARTBEAT_LINE = /starting to beat every (\d+)ms/;

/**
 * Whether the gateway still answers: a socket can stay open, and even resume, while Discord no
 * longer acknowledges its heartbeats. Alive means a heartbeat was acknowledged, or a new session
 * began, within one and a half heartbeat intervals (plus slack for the round trip); a resumed
 * session proves nothing until its first acknowledgement.
 */
export class GatewayHealth {
  private heartbeatMs = DEFAULT_HEARTBEAT_MS;
  private sessionStartedAt = 0;

  /** Reads the heartbeat interval from a discord.js debug line, when it is that line. */
  onDebugLine(line: string): void {
    const match = HEARTBEAT_LINE.exec(line);
    if (match) this.heartbeatMs = Number(match[1]);
  }

  /** A new session is READY (after IDENTIFY, not RESUME). */
  onSessionStart(now = Date.now()): void {
    this.sessionStartedAt = now;
  }

  /**
   * How long the gateway has been silent when that is longer than it may be, else undefined.
   * `lastAckedHeartbeatAt` is discord.js's `shard.lastPingTimestamp`: when the last acknowledged heartbeat was sent.
   */
  silentFor(lastAckedHeartbeatAt: number, now = Date.now()): number | undefined {
    const silent = now - Math.max(lastAckedHeartbeatAt, this.sessionStartedAt);
    return silent > this.heartbeatMs * 1.5 + 2_000 ? silent : undefined;
  }
}
