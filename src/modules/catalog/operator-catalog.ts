import { OPERATOR_EVENT_VERSION, OperatorEventType } from '../../queue/operator-events';
import type { SeedEventType } from './seed-catalog';

/**
 * Herald's operator events in the catalog (src/queue/operator-events.ts publishes them; docs/receiving.md lists them).
 * Like the seed catalog, the migration Migration20261207300000_operator_events inserts them and a later change here
 * changes nothing in an existing database: append-only. Payloads carry ids, counts, codes and times, never a secret
 * or an endpoint's URL. The schemas list every field Herald sends; extra fields are allowed so a field can be added
 * without a new version.
 */
const id = { type: 'string', minLength: 1 };
const nullableId = { type: ['string', 'null'] };
const timestamp = { type: 'string', format: 'date-time' };
const count = { type: 'integer', minimum: 0 };
const suppressedSinceLastEvent = {
  ...count,
  description: "This endpoint's events of this type not sent in the suppression window before this one.",
};
const statusCode = { type: ['integer', 'null'], description: 'The HTTP status of the last attempt; null when none came back.' };
const errorKind = { type: ['string', 'null'], description: 'The kind of the last failure (HTTP_STATUS, TIMEOUT, CONNECTION...).' };

const endpointEvent = (required: string[], properties: Record<string, unknown>) => ({
  type: 'object',
  required: ['endpointId', 'applicationId', 'occurredAt', ...required],
  properties: { endpointId: id, applicationId: id, occurredAt: timestamp, suppressedSinceLastEvent, ...properties },
});

export const OPERATOR_EVENT_TYPES: readonly SeedEventType[] = [
  {
    name: OperatorEventType.endpointDisabled,
    description:
      'Herald: an endpoint was disabled, automatically (410 Gone, too many dead letters in a row, failing too long) or by a user.',
    version: OPERATOR_EVENT_VERSION,
    schema: endpointEvent(['cause', 'reason'], {
      cause: { enum: ['GONE', 'DEAD_LETTERS', 'FAILING_TOO_LONG', 'MANUAL'] },
      reason: { type: 'string', description: 'The disabled reason the endpoint shows.' },
      consecutiveFailures: count,
      consecutiveDeadLetters: count,
      failingSince: { type: ['string', 'null'], format: 'date-time' },
    }),
    example: {
      endpointId: 'ep_01jf0v3q7c8m2n4p6r8t0w2y4z',
      applicationId: 'app_default',
      occurredAt: '2026-12-07T10:15:00.000Z',
      cause: 'GONE',
      reason: 'Disabled at once: the endpoint answered 410 Gone.',
      consecutiveFailures: 1,
      consecutiveDeadLetters: 1,
      failingSince: '2026-12-07T10:15:00.000Z',
      suppressedSinceLastEvent: 0,
    },
  },
  {
    name: OperatorEventType.endpointEnabled,
    description: 'Herald: a disabled endpoint was enabled again.',
    version: OPERATOR_EVENT_VERSION,
    schema: endpointEvent([], {
      redelivered: { ...count, description: 'Deliveries re-queued by enableEndpoint(redeliverMissed: true).' },
    }),
    example: {
      endpointId: 'ep_01jf0v3q7c8m2n4p6r8t0w2y4z',
      applicationId: 'app_default',
      occurredAt: '2026-12-07T11:00:00.000Z',
      redelivered: 12,
      suppressedSinceLastEvent: 0,
    },
  },
  {
    name: OperatorEventType.endpointFailing,
    description: 'Herald: an attempt to a healthy endpoint failed (the first failure since its last success or enabling).',
    version: OPERATOR_EVENT_VERSION,
    schema: endpointEvent([], { lastStatusCode: statusCode, lastErrorKind: errorKind }),
    example: {
      endpointId: 'ep_01jf0v3q7c8m2n4p6r8t0w2y4z',
      applicationId: 'app_default',
      occurredAt: '2026-12-07T10:14:00.000Z',
      lastStatusCode: 503,
      lastErrorKind: 'HTTP_STATUS',
      suppressedSinceLastEvent: 0,
    },
  },
  {
    name: OperatorEventType.endpointRecovered,
    description: 'Herald: a failing endpoint accepted a delivery again.',
    version: OPERATOR_EVENT_VERSION,
    schema: endpointEvent([], {
      failingSince: { type: ['string', 'null'], format: 'date-time' },
      failedAttempts: { ...count, description: 'Attempts that failed in a row before this success.' },
    }),
    example: {
      endpointId: 'ep_01jf0v3q7c8m2n4p6r8t0w2y4z',
      applicationId: 'app_default',
      occurredAt: '2026-12-07T10:20:00.000Z',
      failingSince: '2026-12-07T10:14:00.000Z',
      failedAttempts: 4,
      suppressedSinceLastEvent: 0,
    },
  },
  {
    name: OperatorEventType.deliveryDeadLettered,
    description: "Herald: a delivery was dead-lettered (no more attempts); deliveries of Herald's own events are not announced.",
    version: OPERATOR_EVENT_VERSION,
    schema: endpointEvent(['deliveryId', 'eventId', 'eventType'], {
      deliveryId: id,
      eventId: id,
      eventType: { type: 'string' },
      attempts: count,
      lastStatusCode: statusCode,
      lastErrorKind: errorKind,
    }),
    example: {
      endpointId: 'ep_01jf0v3q7c8m2n4p6r8t0w2y4z',
      applicationId: 'app_default',
      occurredAt: '2026-12-07T10:15:00.000Z',
      deliveryId: 'dlv_01jf0v3q7c8m2n4p6r8t0w2y4z',
      eventId: 'evt_01jf0v3q7c8m2n4p6r8t0w2y4z',
      eventType: 'order.created',
      attempts: 10,
      lastStatusCode: 500,
      lastErrorKind: 'HTTP_STATUS',
      suppressedSinceLastEvent: 0,
    },
  },
  {
    name: OperatorEventType.replayCompleted,
    description: 'Herald: a replayDeadLetters run re-queued every dead letter it matched.',
    version: OPERATOR_EVENT_VERSION,
    schema: {
      type: 'object',
      required: ['replayId', 'occurredAt', 'matched', 'requeued'],
      properties: {
        replayId: id,
        applicationId: { ...nullableId, description: "The replay's application; null for an admin's replay across applications." },
        endpointId: { ...nullableId, description: "The replay's endpoint filter, if any." },
        eventType: { type: ['string', 'null'], description: "The replay's event type filter, if any." },
        matched: count,
        requeued: count,
        startedAt: timestamp,
        occurredAt: timestamp,
      },
    },
    example: {
      replayId: 'rpl_01jf0v3q7c8m2n4p6r8t0w2y4z',
      applicationId: 'app_default',
      endpointId: null,
      eventType: null,
      matched: 250,
      requeued: 248,
      startedAt: '2026-12-07T11:00:00.000Z',
      occurredAt: '2026-12-07T11:00:02.000Z',
    },
  },
];
