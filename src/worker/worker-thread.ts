import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../lib/logger';
import type { WorkerHandle } from './runner';

/** What the worker thread needs beyond its own configuration (which it loads from the same environment). */
export interface WorkerThreadData {
  /** The database this process opened (the embedded one's URL when DATABASE_URL is unset). */
  databaseUrl: string;
  /** Whether loopback receivers are allowed, as decided for this process (it depends on the embedded database). */
  allowLoopback: boolean;
}

export type WorkerThreadMessage = { kind: 'started' } | { kind: 'stop' } | { kind: 'failed'; message: string };

const ENTRY = path.join(__dirname, '..', 'bin', 'worker-thread.js');

/**
 * Runs Herald's worker on a thread of its own: `herald start` then has one event loop for the API and another
 * for the deliveries (a core each), instead of publishes and deliveries taking turns on one. The thread opens
 * its own connections to the same database and behaves exactly as `herald worker`. If it dies, `onDeath` is
 * told (the process cannot deliver any more).
 */
export async function startWorkerThread(options: {
  data: WorkerThreadData;
  logger: Logger;
  onDeath: (reason: string) => void;
}): Promise<WorkerHandle> {
  const { logger } = options;
  const thread = new Worker(ENTRY, { workerData: options.data });
  let running = false;
  let stopping = false;
  const exited = new Promise<number>((resolve) => thread.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    const onMessage = (message: WorkerThreadMessage) => {
      if (message.kind === 'started') {
        running = true;
        resolve();
      } else if (message.kind === 'failed') reject(new Error(`the worker thread did not start: ${message.message}`));
    };
    thread.on('message', onMessage);
    thread.once('error', reject);
    void exited.then((code) => reject(new Error(`the worker thread exited during start-up (code ${code})`)));
  });
  thread.on('error', (error) => logger.error({ err: error }, 'worker thread failed'));
  void exited.then((code) => {
    running = false;
    if (!stopping) options.onDeath(`the worker thread exited (code ${code})`);
  });
  return {
    get running() {
      return running;
    },
    stop: async () => {
      if (stopping) return void (await exited);
      stopping = true;
      thread.postMessage({ kind: 'stop' } satisfies WorkerThreadMessage);
      await exited;
      running = false;
    },
  };
}

/**
 * Lowers the calling thread's priority (the API's, in `herald start`) to `niceness`, once the worker thread runs (a
 * thread inherits its creator's niceness): under CPU contention, delivering what was accepted comes before
 * accepting more. On Linux a niceness belongs to one thread; elsewhere it is the whole process's, so nothing
 * changes there. A niceness already higher is kept.
 */
export function yieldToWorkerThread(niceness: number, logger: Logger): void {
  if (niceness === 0 || process.platform !== 'linux') return;
  try {
    if (os.getPriority(0) < niceness) os.setPriority(0, niceness);
  } catch (error) {
    logger.warn({ err: error }, "could not lower the API thread's priority (API_THREAD_NICENESS)");
  }
}
