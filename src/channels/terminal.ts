import { createInterface, type Interface } from 'node:readline';
import { randomUUID } from 'node:crypto';
import { createEvent, type EventSource, type InboundEvent } from '../core/events.ts';
import type { Channel, ChannelStatus, OutgoingChunk, Publish } from './channel.ts';

const SOURCE: EventSource = { channel: 'terminal', chatId: 'local', userId: 'local', chatType: 'private' };

/** Chat with the agent in this terminal (`npm run chat`), through the same bus as the platforms. */
export class TerminalChannel implements Channel {
  readonly name = 'terminal';
  readonly typingIntervalMs = 60_000;
  private rl?: Interface;
  private state: ChannelStatus['state'] = 'stopped';
  /**
   * Lines typed while a reply is awaited wait here: one line, one turn, as in any REPL (the agent
   * would merge lines queued on the bus into one turn, and piped input could not tell when it is done).
   */
  private readonly typed: string[] = [];
  private awaitingReply = false;
  private inputEnded = false;
  onCrash?: (error: unknown) => void;

  constructor(
    private readonly publish: Publish,
    private readonly input: NodeJS.ReadableStream = process.stdin,
    private readonly output: NodeJS.WritableStream = process.stdout,
    /** Called when the user closes the terminal (Ctrl-D). */
    private readonly onEnd: () => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    this.rl = createInterface({ input: this.input, output: this.output, prompt: 'you> ', terminal: 'isTTY' in this.input && Boolean(this.input.isTTY) });
    this.state = 'connected';
    this.output.write('mybot: chatting in the terminal. /help lists commands, Ctrl-D quits.\n');
    this.rl.prompt();
    this.rl.on('line', (line) => {
      const content = line.trim();
      if (!content) return this.rl?.prompt();
      this.typed.push(content);
      this.publishNext();
    });
    this.rl.on('close', () => {
      this.inputEnded = true;
      this.endIfDone();
    });
  }

  async pause(): Promise<void> {
    this.state = 'stopped';
    this.rl?.close();
  }

  async stop(): Promise<void> {
    await this.pause();
  }

  render(content: string): string[] {
    return [content];
  }

  async send(chunk: OutgoingChunk): Promise<void> {
    this.output.write(`bot> ${chunk.text}\n`);
    this.awaitingReply = false;
    this.publishNext();
    if (this.inputEnded) this.endIfDone();
    else this.rl?.prompt();
  }

  private publishNext(): void {
    if (this.awaitingReply) return;
    const content = this.typed.shift();
    if (content === undefined) return;
    this.awaitingReply = true;
    void this.publish(createEvent<InboundEvent>({ id: randomUUID(), type: 'inbound', sessionId: 'terminal:local', source: SOURCE, content, retryCount: 0 }));
  }

  private endIfDone(): void {
    if (this.state === 'connected' && !this.awaitingReply && this.typed.length === 0) this.onEnd();
  }

  async sendTyping(): Promise<void> {
    this.output.write('bot is thinking…\n');
  }

  status(): ChannelStatus {
    return { state: this.state };
  }
}
