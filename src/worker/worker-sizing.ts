/**
 * graphile-worker 0.17 advises, at every start, as many connections and fetched jobs as job slots. Herald's sizing is
 * deliberate (src/db/database.ts, docs/performance.md): the advice is dropped (src/db/graphile-worker-logger.ts) and
 * Herald says why in one line.
 */
export interface WorkerSizes {
  concurrency: number;
  /** 0: no local queue (each job slot fetches its own job). */
  localQueueSize: number;
  /** Connections of the pool graphile-worker and the delivery store share. */
  poolSize: number;
}

/** The line Herald logs instead of graphile-worker's advice; null when the sizes are what that advice asks for. */
export function workerSizingNote(sizes: WorkerSizes): { fields: WorkerSizes; message: string } | null {
  const fewerConnections = sizes.poolSize < sizes.concurrency;
  const smallerBatches = sizes.localQueueSize > 0 && sizes.localQueueSize < sizes.concurrency;
  if (!fewerConnections && !smallerBatches) return null;
  return {
    fields: sizes,
    message:
      `worker sizing: ${sizes.concurrency} job slots share ${sizes.poolSize} connections and fetch jobs ${sizes.localQueueSize || 1} at a time, ` +
      'as intended: a delivery holds its slot while the receiver answers but a connection only for its batched statements, ' +
      'a full fetch is followed by another at once, and fewer connections leave room in max_connections for more processes',
  };
}
