import type { MikroORM } from '@mikro-orm/postgresql';
import type { Task } from 'graphile-worker';
import type { HeraldConfig } from '../../config';
import type { WebhookHttpClient } from '../../delivery/http-client';
import type { Clock } from '../../lib/clock';
import type { SecretBox } from '../../lib/encryption';
import type { Logger } from '../../lib/logger';
import { isDeliverPayload } from '../../modules/deliveries/deliver-job';
import { DeliveryExecutor } from '../../modules/deliveries/delivery-executor.service';
import type { JobWaker } from '../job-waker';

export interface DeliverTaskDependencies {
  orm: MikroORM;
  config: HeraldConfig;
  http: WebhookHttpClient;
  clock: Clock;
  logger: Logger;
  secrets: SecretBox;
  waker?: JobWaker;
}

/** Makes one attempt of one delivery. Only infrastructure faults throw (graphile-worker retries those). */
export function createDeliverTask(deps: DeliverTaskDependencies): Task {
  return async (payload, helpers) => {
    if (!isDeliverPayload(payload)) {
      deps.logger.error({ jobId: helpers.job.id }, 'deliver job with an invalid payload; dropped');
      return;
    }
    const log = deps.logger.child({ deliveryId: payload.deliveryId, attempt: payload.attempt, jobId: helpers.job.id });
    const executor = new DeliveryExecutor(deps.orm.em.fork(), deps);
    const result = await executor.run(payload, helpers.job.locked_by ?? 'unknown');
    if (result.kind === 'skipped') {
      if (result.wakeInMs !== undefined) deps.waker?.wakeIn(result.wakeInMs);
      log.debug({ reason: result.reason }, 'delivery job skipped');
    } else {
      log.info(
        {
          status: result.status,
          statusCode: result.outcome.statusCode,
          errorKind: result.outcome.errorKind,
          durationMs: result.outcome.durationMs,
        },
        'delivery attempt recorded',
      );
    }
  };
}
