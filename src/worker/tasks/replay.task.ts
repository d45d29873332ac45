import type { MikroORM } from '@mikro-orm/postgresql';
import type { Task } from 'graphile-worker';
import type { HeraldConfig } from '../../config';
import type { Clock } from '../../lib/clock';
import type { Logger } from '../../lib/logger';
import { isReplayPayload } from '../../modules/replays/replay-job';
import { failReplay, runReplayBatch } from '../../modules/replays/replay-batch';
import type { JobWaker } from '../job-waker';

/**
 * One batch of a replayDeadLetters run; the batch schedules the next one itself. A batch that fails is
 * retried by graphile-worker; on its last attempt the replay is marked FAILED.
 */
export function createReplayTask(deps: { orm: MikroORM; config: HeraldConfig; clock: Clock; logger: Logger; waker?: JobWaker }): Task {
  return async (payload, helpers) => {
    if (!isReplayPayload(payload)) {
      deps.logger.error({ jobId: helpers.job.id }, 'replay job with an invalid payload; dropped');
      return;
    }
    const em = deps.orm.em.fork();
    try {
      const next = await runReplayBatch(em, payload.replayId, {
        ratePerSecond: deps.config.replay.ratePerSecond,
        clock: deps.clock,
        operatorEvents: deps.config.operatorEvents,
      });
      if (next) deps.waker?.wakeIn(next.nextAt.getTime() - deps.clock.now().getTime());
      else deps.logger.info({ replayId: payload.replayId }, 'replay finished or stopped');
    } catch (error) {
      if (helpers.job.attempts >= helpers.job.max_attempts) {
        await failReplay(em, payload.replayId, `A batch failed ${helpers.job.attempts} times: ${(error as Error).message}`);
        deps.logger.error({ err: error, replayId: payload.replayId }, 'replay failed');
        return;
      }
      throw error;
    }
  };
}
