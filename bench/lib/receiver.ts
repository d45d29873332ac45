import path from 'node:path';
import { Worker } from 'node:worker_threads';

export interface ReceivedDelivery {
  seq: number;
  endpoint: number;
  sentAt: number;
  receivedAt: number;
}

/** Controls the receiver thread (receiver-worker.ts): where it listens, and what it has recorded per scenario. */
export class BenchReceiver {
  private nextId = 1;
  private readonly pending = new Map<number, (message: Record<string, unknown>) => void>();

  private constructor(
    private readonly worker: Worker,
    readonly port: number,
  ) {
    worker.on('message', (message: Record<string, unknown>) => {
      const id = message.id as number | undefined;
      if (id !== undefined) {
        this.pending.get(id)?.(message);
        this.pending.delete(id);
      }
    });
  }

  static async start(): Promise<BenchReceiver> {
    const worker = new Worker(path.join(__dirname, 'receiver-worker.js'));
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (message: { type: string; port: number }) => resolve(message.port));
    });
    return new BenchReceiver(worker, port);
  }

  /** URL of endpoint `endpoint` of a scenario: deliveries to it are recorded under that scenario. */
  url(scenario: string, endpoint: number): string {
    return `http://127.0.0.1:${this.port}/r/${scenario}/${endpoint}`;
  }

  async count(scenario: string): Promise<number> {
    const reply = await this.ask({ type: 'count', scenario });
    return reply.count as number;
  }

  async collect(scenario: string): Promise<{ deliveries: ReceivedDelivery[]; unparsable: number }> {
    const reply = await this.ask({ type: 'collect', scenario });
    const records = reply.records as Float64Array;
    const deliveries: ReceivedDelivery[] = [];
    for (let i = 0; i + 3 < records.length; i += 4) {
      deliveries.push({ seq: records[i]!, endpoint: records[i + 1]!, sentAt: records[i + 2]!, receivedAt: records[i + 3]! });
    }
    return { deliveries, unparsable: reply.unparsable as number };
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.postMessage({ type: 'close' });
    await exited;
  }

  private ask(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ ...message, id });
    });
  }
}
