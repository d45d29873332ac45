import { Migration } from '@mikro-orm/migrations';
import { replacedOnce } from './Migration20261207500000_publish_job_rows';
import {
  FIRST_ATTEMPT_BATCHES,
  FIRST_ATTEMPT_JOB_SPECS,
  FAN_OUT_EVENTS as PREVIOUS_FAN_OUT_EVENTS,
} from './Migration20261208000000_first_attempts_batched';

/**
 * The fan-out inserts its first attempts' jobs into graphile-worker's job table itself and announces them on
 * `jobs:insert` as graphile-worker's `add_jobs` does, instead of calling `add_jobs`. A new delivery's job needs none of
 * `add_jobs`' work beyond the insert: no job carries its key yet, and its task is looked up once. Under the fan-out's
 * generic plans `add_jobs` planned its check of existing keys as a scan of the whole job table, and its five statements
 * cost about eight times the insert alone (docs/performance.md). The rows are those `add_jobs` writes for the same
 * specs (test/integration/fan-out.test.ts compares them with the engine's); src/db/job-queue-internals.ts names the
 * graphile-worker version they were written for.
 */
export class Migration20261208200000_fan_out_inserts_jobs extends Migration {
  override async up(): Promise<void> {
    this.addSql(FAN_OUT_EVENTS);
  }

  override async down(): Promise<void> {
    this.addSql(PREVIOUS_FAN_OUT_EVENTS);
  }
}

const DECLARED = replacedOnce(PREVIOUS_FAN_OUT_EVENTS, '  grp text;\n', '  grp text;\n  deliver_task int;\n');

const TASK_FOUND = replacedOnce(
  DECLARED,
  '  -- One statement, whose snapshot is taken after the group locks',
  `  -- graphile-worker's task row, which add_jobs makes with a task's first job.
  select t.id into deliver_task from graphile_worker._private_tasks t where t.identifier = 'deliver';
  if deliver_task is null then
    insert into graphile_worker._private_tasks as t (identifier) values ('deliver') on conflict do nothing;
    select t.id into deliver_task from graphile_worker._private_tasks t where t.identifier = 'deliver';
  end if;

  -- One statement, whose snapshot is taken after the group locks`,
);

const JOBS_INSERTED = replacedOnce(
  replacedOnce(
    TASK_FOUND,
    `    select graphile_worker.add_jobs(array(
             ${FIRST_ATTEMPT_JOB_SPECS}`,
    `    insert into graphile_worker._private_jobs (task_id, payload, run_at, max_attempts, key)
             select deliver_task,
                    case when b.n = 1 then json_build_object('deliveryId', b.ids[1], 'attempt', 1)
                         else json_build_object('deliveryIds', b.ids, 'attempt', 1) end,
                    b.due, 25, case when b.n = 1 then 'deliver:' || b.ids[1] end`,
  ),
  `${FIRST_ATTEMPT_BATCHES})) as added
     where exists (select 1 from placed p where p.start_now)
  )`,
  `${FIRST_ATTEMPT_BATCHES}
    returning 1
  ), announced as (
    -- As add_jobs announces its jobs (a random part, so that two announcements in one transaction are two).
    select pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":' || count(*)::text || '}')
      from jobs having count(*) > 0
  )`,
);

export const FAN_OUT_EVENTS = replacedOnce(
  JOBS_INSERTED,
  '   where (select count(*) from inserted) >= 0 and (select count(*) from jobs) >= 0',
  '   where (select count(*) from inserted) >= 0 and (select count(*) from announced) >= 0',
);
