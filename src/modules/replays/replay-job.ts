import type { JobSpec } from '../../db/sql';

export const REPLAY_TASK = 'replay';

export interface ReplayPayload {
  replayId: string;
}

/** One job key per replay: at most one batch of a replay waits or runs at a time. */
export function replayJob(replayId: string, runAt?: Date): JobSpec {
  const payload: ReplayPayload = { replayId };
  return { identifier: REPLAY_TASK, payload, runAt, jobKey: `replay:${replayId}`, maxAttempts: REPLAY_JOB_MAX_ATTEMPTS };
}

/** A batch failing this many times in a row (graphile-worker backs off between tries) fails the replay. */
export const REPLAY_JOB_MAX_ATTEMPTS = 10;

export function isReplayPayload(value: unknown): value is ReplayPayload {
  return typeof (value as Partial<ReplayPayload> | null)?.replayId === 'string';
}
