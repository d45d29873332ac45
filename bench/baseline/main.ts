import { startBaseline } from './service';

/** Runs the baseline service as its own process (the harness measures its CPU and memory like Herald's). */
async function main(): Promise<void> {
  const env = process.env;
  const handle = await startBaseline({
    port: Number(env.BASELINE_PORT ?? 3000),
    databaseUrl: env.BASELINE_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/baseline',
    redis: { host: env.BASELINE_REDIS_HOST ?? '127.0.0.1', port: Number(env.BASELINE_REDIS_PORT ?? 6379) },
    queueName: env.BASELINE_QUEUE ?? 'webhooks',
    concurrency: Number(env.BASELINE_CONCURRENCY ?? 1),
  });
  console.log(JSON.stringify({ msg: 'baseline listening', url: handle.url }));
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    void handle.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  console.error('baseline failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
