import pg from 'pg';
import type { BenchGraphqlClient } from './graphql-client';
import { benchEventData } from './scenario';
import { type Percentiles, percentiles } from './stats';

export interface PublishCapacityResult {
  mutation: 'publishEvent' | 'publishEvents';
  eventsPerCall: number;
  concurrency: number;
  seconds: number;
  /** Calls answered with data in the measured phase, and the events they carried. */
  calls: number;
  events: number;
  callsPerSecond: number;
  eventsPerSecond: number;
  /** Per call, from sending it to its answer, ms. */
  latencyMs: Percentiles | null;
  errors: number;
  firstError: string | null;
  /** Events of the application stored in PostgreSQL afterwards against events acknowledged (warm-up included). */
  stored: number;
  acknowledged: number;
  balanced: boolean;
}

const PUBLISH_ONE = 'mutation($i: PublishEventInput!) { publishEvent(input: $i) { id } }';
const PUBLISH_MANY = 'mutation($is: [PublishEventInput!]!) { publishEvents(inputs: $is) { id } }';

/**
 * How many events the API takes per second, closed loop: `concurrency` clients each send their next call
 * as soon as the last one answered, for a warm-up second and then `seconds` measured. Each event is
 * ~1 KB and matches an endpoint, so every publish writes the event, its delivery and its job. Afterwards
 * the events stored for the application are counted: every acknowledged event must be there.
 */
export async function measurePublishCapacity(options: {
  client: BenchGraphqlClient;
  databaseUrl: string;
  applicationId: string;
  eventType: string;
  eventsPerCall: number;
  concurrency: number;
  seconds: number;
  payloadBytes: number;
}): Promise<PublishCapacityResult> {
  const { client, applicationId, eventType, eventsPerCall } = options;
  const eventData = benchEventData(options.payloadBytes);
  const input = (seq: number) => ({ applicationId, type: eventType, data: eventData(seq, Date.now(), 'publish-capacity') });
  let seq = 0;
  const call = (): Promise<unknown> => {
    if (eventsPerCall === 1) return client.request(PUBLISH_ONE, { i: input(seq++) });
    const inputs = Array.from({ length: eventsPerCall }, () => input(seq++));
    return client.request(PUBLISH_MANY, { is: inputs });
  };

  const warmupEnds = performance.now() + 1000;
  const measuredEnds = warmupEnds + options.seconds * 1000;
  const latencies: number[] = [];
  let acknowledged = 0;
  let errors = 0;
  let firstError: string | null = null;
  const loop = async () => {
    for (;;) {
      const sent = performance.now();
      if (sent >= measuredEnds) return;
      try {
        await call();
        acknowledged += eventsPerCall;
        const answered = performance.now();
        if (sent >= warmupEnds && answered <= measuredEnds) latencies.push(answered - sent);
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));

  const database = new pg.Client({ connectionString: options.databaseUrl });
  await database.connect();
  let stored: number;
  try {
    const { rows } = await database.query<{ count: string }>('select count(*) from events where application_id = $1', [applicationId]);
    stored = Number(rows[0]?.count ?? 0);
  } finally {
    await database.end();
  }
  const calls = latencies.length;
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    mutation: eventsPerCall === 1 ? 'publishEvent' : 'publishEvents',
    eventsPerCall,
    concurrency: options.concurrency,
    seconds: options.seconds,
    calls,
    events: calls * eventsPerCall,
    callsPerSecond: round(calls / options.seconds),
    eventsPerSecond: round((calls * eventsPerCall) / options.seconds),
    latencyMs: percentiles(latencies),
    errors,
    firstError,
    stored,
    acknowledged,
    balanced: stored === acknowledged && errors === 0,
  };
}
