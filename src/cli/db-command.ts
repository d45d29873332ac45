import type { HeraldConfig } from '../config';
import { EMBEDDED_DATABASE, embeddedDataDir, embeddedUrl, runningServer } from '../db/embedded-postgres';

export const DB_USAGE = `  db url    print the connection URL of Herald's database (for SQL producers: herald.publish_event):
              DATABASE_URL when set, else the running embedded PostgreSQL's`;

interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

/**
 * `herald db url`: where a SQL producer connects. It only reads: the embedded server's port and pid come from its
 * postmaster.pid, so asking never starts or stops a database.
 */
export async function runDbCommand(config: Pick<HeraldConfig, 'databaseUrl' | 'dataDir'>, args: string[], io: Output): Promise<number> {
  if (args[0] !== 'url' || args.length > 1) {
    io.err(`Usage:\n${DB_USAGE}`);
    return 2;
  }
  if (config.databaseUrl) {
    io.out(config.databaseUrl);
    return 0;
  }
  const dataDir = embeddedDataDir(config.dataDir);
  const server = await runningServer(dataDir);
  if (!server) {
    io.err(
      `No embedded PostgreSQL is running in ${dataDir}: start Herald first (npm start), then ask again. ` +
        '(DATABASE_URL is unset, so Herald uses its embedded PostgreSQL; set HERALD_DATA_DIR as Herald has it.)',
    );
    return 1;
  }
  io.out(embeddedUrl(server.port, EMBEDDED_DATABASE));
  return 0;
}
