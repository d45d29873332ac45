import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddEventTypeVersionDocument,
  CreateApplicationDocument,
  DisableEndpointDocument,
  EnableEndpointDocument,
  PublishEventDocument,
  PublishEventsDocument,
  RegisterEndpointDocument,
  RegisterEventTypeDocument,
  SendTestEventDocument,
} from '../../src/sdk/generated/graphql';
import { jobSpecsJson } from '../../src/db/sql';
import { FIRST_ATTEMPT_BATCH_SIZE, deliverBatchJob, deliverJob } from '../../src/queue/deliver-job';
import { EVENT_TYPE, EVENT_VERSION, matchesEventType, matchesVersionPin } from '../../src/modules/events/event-type-pattern';
import { createTestDatabase, jobCarries, query } from '../helpers/database';
import { type TestHerald, startTestHerald } from '../helpers/herald';

/**
 * Every way an event becomes deliveries goes through the database's one fan-out (herald.publish_events and
 * herald.fan_out): the API's publishEvents, a SQL producer's herald.publish_events and herald.publish_event, and
 * enableEndpoint(redeliverMissed). No worker runs, so each delivery's job is still there to compare.
 */
describe('the one fan-out', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let producer: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url, { roles: { api: true, worker: false } });
    producer = new pg.Client({ connectionString: database.url });
    await producer.connect();
    // Version pins name catalog versions.
    await herald.call(RegisterEventTypeDocument, { input: { name: 'shape.drawn', description: 'A shape was drawn.', example: { n: 0 } } });
    await herald.call(AddEventTypeVersionDocument, { input: { name: 'shape.drawn', version: '2.0', example: { n: 0 } } });
  });
  afterAll(async () => {
    await producer?.end();
    await herald?.stop();
    await database?.drop();
  });

  /** Endpoints named by their description, each filter kind once; the last one is disabled. */
  async function applicationWithEndpoints(name: string): Promise<{ applicationId: string; endpointIds: Map<string, string> }> {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name } });
    const applicationId = createApplication.id;
    const endpoints = [
      { description: 'every type' },
      { description: 'shape wildcard', eventTypes: ['shape.*'] },
      { description: 'exact', eventTypes: ['shape.drawn'] },
      { description: 'pinned to 2.0', eventTypes: ['shape.*'], eventVersions: { 'shape.drawn': '2.0' } },
      { description: 'ordered', eventTypes: ['shape.*'], ordered: true },
      { description: 'underscore is literal', eventTypes: ['shape_x*'] },
      { description: 'disabled' },
    ];
    const endpointIds = new Map<string, string>();
    for (const endpoint of endpoints) {
      const { registerEndpoint } = await herald.call(RegisterEndpointDocument, {
        input: { applicationId, url: 'http://127.0.0.1:9/hook', ...endpoint },
      });
      endpointIds.set(endpoint.description, registerEndpoint.endpoint.id);
    }
    await herald.call(DisableEndpointDocument, { id: endpointIds.get('disabled')!, reason: 'test' });
    return { applicationId, endpointIds };
  }

  const EVENTS = [
    { type: 'shape.drawn', version: '1.0', data: { n: 1 } },
    { type: 'shape.drawn', version: '2.0', data: { n: 2 } },
    { type: 'shape.erased', version: '1.0', data: { n: 3 }, orderingKey: 'k1' },
    { type: 'other.thing', version: '1.0', data: { n: 4 } },
    { type: 'shape_x1', version: '1.0', data: { n: 5 } },
    { type: 'shapeZx1', version: '1.0', data: { n: 6 } },
    { type: 'shape.drawn', version: '1.0', data: { n: 7 }, idempotencyKey: 'same' },
    { type: 'shape.drawn', version: '1.0', data: { n: 7 }, idempotencyKey: 'same' },
    { type: 'shape.erased', version: '1.0', data: { n: 8 }, orderingKey: 'k1' },
    { type: 'shape.moved', version: '1.0', data: { n: 9 } },
  ];

  const asSqlEvent = (event: (typeof EVENTS)[number], applicationId: string) => ({
    application_id: applicationId,
    type: event.type,
    version: event.version,
    data: event.data,
    idempotency_key: event.idempotencyKey ?? null,
    ordering_key: event.orderingKey ?? null,
  });

  /** An application's deliveries, with endpoints by description and groups and jobs as the worker would see them. */
  async function deliveriesOf(applicationId: string) {
    return query(
      database.url,
      `select (e.payload::json ->> 'n')::int as n, ep.description as endpoint, d.status, d.attempt_count, d.sequence,
              replace(d.ordering_group, ep.id, ep.description) as ordering_group,
              pj.payload ->> 'attempt' as job_attempt, t.identifier as job_task, pj.max_attempts as job_max_attempts,
              pj.run_at <= now() as job_due
         from deliveries d
         join events e on e.id = d.event_id
         join endpoints ep on ep.id = d.endpoint_id
         left join graphile_worker._private_jobs pj on ${jobCarries('pj', 'd')}
         left join graphile_worker._private_tasks t on t.id = pj.task_id
        where d.application_id = $1
        order by n, endpoint`,
      [applicationId],
    );
  }

  it('publishes the same events through the API and through SQL into identical deliveries, jobs and groups', async () => {
    const api = await applicationWithEndpoints('through the API');
    const set = await applicationWithEndpoints('through herald.publish_events');
    const single = await applicationWithEndpoints('through herald.publish_event');

    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: EVENTS.map((event) => ({ applicationId: api.applicationId, ...event })),
    });
    expect(publishEvents).toHaveLength(EVENTS.length);
    await producer.query('select * from herald.publish_events($1::json)', [
      JSON.stringify(EVENTS.map((event) => asSqlEvent(event, set.applicationId))),
    ]);
    for (const event of EVENTS) {
      await producer.query('select herald.publish_event($1, $2::json, $3, $4, $5, $6)', [
        event.type,
        JSON.stringify(event.data),
        event.idempotencyKey ?? null,
        single.applicationId,
        event.version,
        event.orderingKey ?? null,
      ]);
    }

    const throughApi = await deliveriesOf(api.applicationId);
    expect(await deliveriesOf(set.applicationId)).toEqual(throughApi);
    expect(await deliveriesOf(single.applicationId)).toEqual(throughApi);

    // What the three agree on is the fan-out's rules, not an empty result.
    const to = (endpoint: string) => throughApi.filter((row) => row.endpoint === endpoint).map((row) => row.n);
    expect(to('every type')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(to('shape wildcard')).toEqual([1, 2, 3, 7, 8, 9]);
    expect(to('exact')).toEqual([1, 2, 7]);
    expect(to('pinned to 2.0')).toEqual([2, 3, 8, 9]);
    expect(to('underscore is literal')).toEqual([5]);
    expect(to('disabled')).toEqual([]);
    const ordered = throughApi.filter((row) => row.endpoint === 'ordered');
    expect(ordered.map((row) => [row.n, row.ordering_group, Number(row.sequence), row.job_attempt])).toEqual([
      [1, 'ordered', 1, '1'],
      [2, 'ordered', 2, null],
      [3, 'ordered:k1', 1, '1'],
      [7, 'ordered', 3, null],
      [8, 'ordered:k1', 2, null],
      [9, 'ordered', 4, null],
    ]);
    const keyed = throughApi.filter((row) => row.endpoint === 'every type' && (row.n === 3 || row.n === 8));
    expect(keyed.map((row) => [row.n, row.ordering_group, row.job_attempt])).toEqual([
      [3, 'every type:k1', '1'],
      [8, 'every type:k1', null],
    ]);
    const ungrouped = throughApi.filter((row) => row.ordering_group === null);
    expect(ungrouped.length).toBeGreaterThan(0);
    for (const row of ungrouped) {
      expect(row).toMatchObject({
        status: 'PENDING',
        attempt_count: 0,
        job_attempt: '1',
        job_task: 'deliver',
        job_max_attempts: 25,
        job_due: true,
      });
    }
  });

  it('sends a test event to its one endpoint whatever its filters, outside its FIFO group', async () => {
    const { applicationId, endpointIds } = await applicationWithEndpoints('test events');
    const exact = endpointIds.get('exact')!;
    const ordered = endpointIds.get('ordered')!;
    await herald.call(SendTestEventDocument, { endpointId: exact });
    await herald.call(SendTestEventDocument, { endpointId: ordered });
    const rows = await query(
      database.url,
      `select ep.description as endpoint, e.type, d.ordering_group, d.sequence,
              exists (select 1 from graphile_worker._private_jobs j where ${jobCarries('j', 'd')}) as has_job
         from deliveries d join events e on e.id = d.event_id join endpoints ep on ep.id = d.endpoint_id
        where d.application_id = $1 order by d.id`,
      [applicationId],
    );
    expect(rows).toEqual([
      { endpoint: 'exact', type: 'webhook.test', ordering_group: null, sequence: null, has_job: true },
      { endpoint: 'ordered', type: 'webhook.test', ordering_group: null, sequence: null, has_job: true },
    ]);
  });

  it('redeliverMissed fans out through the same rules: version pins and filters apply, FIFO order holds', async () => {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'redeliver missed' } });
    const applicationId = createApplication.id;
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, {
      input: {
        applicationId,
        url: 'http://127.0.0.1:9/hook',
        description: 'ordered',
        eventTypes: ['shape.*'],
        eventVersions: { 'shape.drawn': '2.0' },
        ordered: true,
      },
    });
    const endpointId = registerEndpoint.endpoint.id;
    const publish = (type: string, version: string, n: number) =>
      herald.call(PublishEventDocument, { input: { applicationId, type, version, data: { n } } });
    await publish('shape.drawn', '2.0', 1);
    await publish('shape.erased', '1.0', 2);
    await herald.call(DisableEndpointDocument, { id: endpointId, reason: 'test' });
    // Its two deliveries became dead letters while it was failing.
    await query(database.url, `update deliveries set status = 'DEAD', attempt_count = 1, updated_at = now() where endpoint_id = $1`, [
      endpointId,
    ]);
    await query(database.url, `delete from graphile_worker._private_jobs where key like 'deliver:%'`);
    await publish('shape.drawn', '1.0', 3);
    await publish('shape.drawn', '2.0', 4);
    await publish('other.thing', '1.0', 5);
    await publish('shape.moved', '1.0', 6);

    await herald.call(EnableEndpointDocument, { id: endpointId, redeliverMissed: true });
    const rows = await deliveriesOf(applicationId);
    expect(rows.map((row) => [row.n, row.status, row.ordering_group, Number(row.sequence), row.job_attempt])).toEqual([
      [1, 'PENDING', 'ordered', 1, '2'],
      [2, 'PENDING', 'ordered', 2, null],
      [4, 'PENDING', 'ordered', 3, null],
      [6, 'PENDING', 'ordered', 4, null],
    ]);
  });

  it('matches event types and version pins in SQL exactly as the TypeScript matcher does', async () => {
    const filters: string[][] = [
      [],
      ['*'],
      ['order.created'],
      ['order.*'],
      ['*.created'],
      ['a*b*c'],
      ['a_b'],
      ['order.*', 'invoice.paid'],
      ['**'],
      ['o*r*d*e*r*.*'],
    ];
    const types = ['order.created', 'order.', 'order', 'invoice.paid', 'abc', 'aXbYc', 'a_b', 'aXb', 'ac', 'created', 'x.created'];
    for (const filter of filters) {
      for (const type of types) {
        const { rows } = await producer.query<{ matches: boolean }>('select herald.event_type_matches($1::text[], $2) as matches', [
          filter,
          type,
        ]);
        expect({ filter, type, matches: rows[0]!.matches }).toEqual({ filter, type, matches: matchesEventType(filter, type) });
      }
    }
    const pins: Array<Record<string, string>> = [{}, { 'order.created': '2.0' }, { 'order.updated': '1.0' }];
    for (const pin of pins) {
      for (const version of ['1.0', '2.0']) {
        const { rows } = await producer.query<{ matches: boolean }>('select herald.version_pin_matches($1::jsonb, $2, $3) as matches', [
          JSON.stringify(pin),
          'order.created',
          version,
        ]);
        expect({ pin, version, matches: rows[0]!.matches }).toEqual({
          pin,
          version,
          matches: matchesVersionPin(pin, 'order.created', version),
        });
      }
    }
  });

  it('accepts and refuses the same event types and versions as the API', async () => {
    /** Whether herald.publish_event takes it; a refusal must be its bad-input error (22023), nothing else. */
    const takes = async (type: string, version: string): Promise<boolean> => {
      await producer.query('savepoint candidate');
      try {
        await producer.query("select herald.publish_event($1, '{}', null, 'app_default', $2)", [type, version]);
        return true;
      } catch (error) {
        expect((error as { code?: string }).code).toBe('22023');
        return false;
      } finally {
        await producer.query('rollback to savepoint candidate');
      }
    };
    const types = [
      'order.created',
      'a',
      '9x',
      'a:b-c_d.e',
      '.lead',
      '-lead',
      '_lead',
      'has space',
      'ünï',
      'x'.repeat(128),
      'x'.repeat(129),
      '',
    ];
    const versions = ['1.0', 'v2', '2024-01-01', 'a_b', '1 0', '1/0', 'x'.repeat(32), 'x'.repeat(33), ''];
    await producer.query('begin');
    try {
      for (const type of types) expect({ type, takes: await takes(type, '1.0') }).toEqual({ type, takes: EVENT_TYPE.test(type) });
      for (const version of versions) {
        expect({ version, takes: await takes('order.versioned', version) }).toEqual({ version, takes: EVENT_VERSION.test(version) });
      }
    } finally {
      await producer.query('rollback');
    }
  });

  it("writes the first attempts' jobs in SQL as the engine writes them: a batch per 16 due together, a lone delivery's own", async () => {
    const { applicationId } = await applicationWithEndpoints('jobs as the engine writes them');
    const runAt = new Date(Date.now() + 3_600_000);
    // SQL writes first attempts only; a retry's job (attempt 2 on) carries the retry lane's priority and flag.
    // Six events due now for four endpoints each (the FIFO group's later deliveries wait for no job), one due later
    // for one endpoint.
    const { rows: published } = await producer.query<{ delivery_ids: string[] }>(
      'select delivery_ids from herald.publish_events($1::json) order by ord',
      [
        JSON.stringify([
          ...Array.from({ length: 6 }, (_, n) => ({ application_id: applicationId, type: 'shape.drawn', data: { n } })),
          { application_id: applicationId, type: 'other.thing', data: { n: 6 }, deliver_at: runAt.toISOString() },
        ]),
      ],
    );
    const later = published.at(-1)!.delivery_ids;
    expect(later).toHaveLength(1);
    const waiting = new Set(
      (
        await producer.query<{ id: string }>('select id from deliveries where application_id = $1 and sequence > 1', [applicationId])
      ).rows.map((row) => row.id),
    );
    const due = published
      .slice(0, -1)
      .flatMap((row) => row.delivery_ids)
      .filter((id) => !waiting.has(id))
      .sort();
    expect([due.length, waiting.size]).toEqual([19, 5]);
    const { rows } = await producer.query<{ spec: Record<string, unknown> }>(
      `select json_build_object('identifier', t.identifier, 'payload', pj.payload, 'queue_name', q.queue_name,
                                'run_at', pj.run_at, 'max_attempts', pj.max_attempts, 'job_key', pj.key,
                                'priority', nullif(pj.priority, 0), 'flags', pj.flags) as spec
         from graphile_worker._private_jobs pj
         join graphile_worker._private_tasks t on t.id = pj.task_id
         left join graphile_worker._private_job_queues q on q.id = pj.job_queue_id
        where exists (select 1 from deliveries d where d.application_id = $1 and ${jobCarries('pj', 'd')})
        order by pj.run_at, pj.payload::text`,
      [applicationId],
    );
    const chunks = [due.slice(0, FIRST_ATTEMPT_BATCH_SIZE), due.slice(FIRST_ATTEMPT_BATCH_SIZE)];
    expect(chunks.map((chunk) => chunk.length)).toEqual([16, 3]);
    const engine = JSON.parse(jobSpecsJson([...chunks.map((chunk) => deliverBatchJob(chunk)), deliverJob(later[0]!, 1, runAt)])) as Array<
      Record<string, unknown>
    >;
    const withoutRunAt = ({ run_at: _runAt, ...spec }: Record<string, unknown>) => spec;
    expect(rows.map((row) => withoutRunAt(row.spec))).toEqual(engine.map(withoutRunAt));
    // The engine leaves a first attempt's run_at to graphile-worker (now); SQL writes the publish's now().
    for (const [index, job] of engine.slice(0, 2).entries()) {
      expect(job.run_at).toBeNull();
      expect(Math.abs(new Date(rows[index]!.spec.run_at as string).getTime() - Date.now())).toBeLessThan(60_000);
    }
    expect(new Date(rows[2]!.spec.run_at as string).getTime()).toBe(runAt.getTime());
  });
});
