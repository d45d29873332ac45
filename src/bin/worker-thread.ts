import 'reflect-metadata';
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfig } from '../config';
import { loadSecretBox } from '../config/encryption-key';
import { openDatabase } from '../db/database';
import { systemClock } from '../lib/clock';
import { startWorker } from '../worker/runner';
import { createLogger } from '../lib/logger';
import { handleUnhandledRejections } from '../db/unhandled-rejections';
import type { WorkerThreadData, WorkerThreadMessage } from '../worker/worker-thread';

/** The worker thread of `herald start` (see src/worker/worker-thread.ts): `herald worker` on a thread. */
async function main(port: NonNullable<typeof parentPort>): Promise<void> {
  const data = workerData as WorkerThreadData;
  const loaded = loadConfig();
  const config = { ...loaded, databaseUrl: data.databaseUrl, ssrf: { ...loaded.ssrf, allowLoopback: data.allowLoopback } };
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty }).child({ thread: 'worker' });
  // The main thread has migrated the database and announced any first admin key: only the worker runs here.
  let running: { stop(): Promise<void> } | null = null;
  let stopping: Promise<void> | null = null;
  /** Stops the worker once and ends this thread with `exitCode`; the main thread hears of an exit it did not ask for. */
  const stopThread = (exitCode: number) => {
    stopping ??= (running?.stop() ?? Promise.resolve())
      .catch((error: unknown) => logger.warn({ err: error }, 'worker thread did not stop cleanly'))
      // Ends this thread only, whatever timers or sockets a library left behind.
      .finally(() => process.exit(exitCode));
  };
  handleUnhandledRejections(logger, () => stopThread(1));
  try {
    const secrets = loadSecretBox(config, logger);
    const database = await openDatabase(config, logger);
    const worker = await startWorker({ orm: database.orm, pool: database.pool, config, clock: systemClock, logger, secrets }).catch(
      async (error: unknown) => {
        await database.close();
        throw error;
      },
    );
    running = {
      stop: async () => {
        await worker.stop();
        await database.close();
      },
    };
  } catch (error) {
    port.postMessage({ kind: 'failed', message: error instanceof Error ? error.message : String(error) } satisfies WorkerThreadMessage);
    return;
  }
  port.on('message', (message: WorkerThreadMessage) => {
    if (message.kind === 'stop') stopThread(0);
  });
  port.postMessage({ kind: 'started' } satisfies WorkerThreadMessage);
}

if (parentPort) void main(parentPort);
