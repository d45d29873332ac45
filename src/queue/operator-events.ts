import type { OperatorEventsConfig } from '../config';
import { type Sql, execute } from '../db/sql';
import type { AutomaticDisableCause } from '../delivery/endpoint-health-policy';
import { IdPrefix, newId } from '../lib/ids';
import { publishEvents } from './publish';

/**
 * Herald's operator events: ordinary catalog types (src/modules/catalog/operator-catalog.ts holds their schemas)
 * published through the one fan-out when an endpoint, a delivery or a replay changes state. docs/receiving.md lists
 * them with their payloads.
 */
export const OperatorEventType = {
  endpointDisabled: 'herald.endpoint.disabled',
  endpointEnabled: 'herald.endpoint.enabled',
  endpointFailing: 'herald.endpoint.failing',
  endpointRecovered: 'herald.endpoint.recovered',
  deliveryDeadLettered: 'herald.delivery.dead_lettered',
  replayCompleted: 'herald.replay.completed',
} as const;
export type OperatorEventType = (typeof OperatorEventType)[keyof typeof OperatorEventType];

/** The version every operator event is published as (the catalog's only version of each). */
export const OPERATOR_EVENT_VERSION = '1.0';

/** Why an endpoint was disabled, as `herald.endpoint.disabled` carries it. */
export type DisableCause = AutomaticDisableCause | 'MANUAL';

/** Deliveries of operator events are not announced when dead-lettered: a receiver failing them would feed itself. */
export function isOperatorEventType(type: string): boolean {
  return type.startsWith('herald.');
}

/** One state change to announce. */
export interface OperatorEvent {
  type: OperatorEventType;
  /** The application it concerns; null (an admin's replay across applications): only the operator application. */
  applicationId: string | null;
  /**
   * The endpoint whose events of this type are suppressed within the window (see publishOperatorEvents); null: never
   * suppressed (a replay completes once).
   */
  endpointId: string | null;
  /** The payload; `suppressedSinceLastEvent` is added for an endpoint's events. Never a secret or a URL. */
  data: Record<string, unknown>;
}

interface Decision {
  ord: number;
  targets: string[];
  sent: boolean | null;
  carried: number | null;
}

/**
 * Publishes the operator events that someone receives, in the caller's transaction (`db`), through the one fan-out.
 * An event goes to its application when an enabled endpoint there subscribes with a filter that names it (any filter
 * taking the type but `*`: an application with only catch-all endpoints never opted in), and to the operator
 * application when one is configured and an enabled endpoint there takes the type (no filters included). Then it is
 * an ordinary event of each application: every endpoint whose filters take it receives it, signed like any other.
 *
 * Suppression: an endpoint's event of a type within `suppressionMs` of the last one of that type sent for it is only
 * counted (operator_event_state, one row per endpoint and type, so every worker agrees); the next one sent carries
 * the count as `suppressedSinceLastEvent`. Nobody subscribing costs one statement and writes nothing.
 * Returns how many events were published (one per receiving application).
 */
export async function publishOperatorEvents(db: Sql, events: OperatorEvent[], config: OperatorEventsConfig, now: Date): Promise<number> {
  if (events.length === 0) return 0;
  // One claim per endpoint and type per statement (ON CONFLICT may touch a row once): later ones in the batch are
  // suppressed by the first, counted in `extra`.
  const firstOfKey = new Map<string, number>();
  const extra = new Map<number, number>();
  const inputs: Array<{ ord: number; type: string; application_id: string | null; endpoint_id: string | null; extra: number }> = [];
  events.forEach((event, ord) => {
    if (event.endpointId !== null) {
      const key = `${event.endpointId}\u0000${event.type}`;
      const first = firstOfKey.get(key);
      if (first !== undefined) {
        extra.set(first, (extra.get(first) ?? 0) + 1);
        return;
      }
      firstOfKey.set(key, ord);
    }
    inputs.push({ ord, type: event.type, application_id: event.applicationId, endpoint_id: event.endpointId, extra: 0 });
  });
  for (const input of inputs) input.extra = extra.get(input.ord) ?? 0;

  const decisions = await execute<Decision>(
    db,
    `with input as (
       select * from json_to_recordset(?::json) as i(ord int, type text, application_id text, endpoint_id text, extra int)
     ), targets as (
       select i.ord, t.app, t.operator from input i
       cross join lateral (
         select i.application_id as app, false as operator where i.application_id is distinct from ?::text
         union all
         select ?::text, true
       ) t
       where t.app is not null
         and exists (
           select 1 from endpoints ep
            where ep.application_id = t.app and ep.enabled
              and case when t.operator then herald.event_type_matches(ep.event_types, i.type)
                       else exists (select 1 from unnest(ep.event_types) f where f <> '*' and herald.event_type_matches(array[f], i.type))
                  end)
     ), received as (
       select ord, array_agg(app order by operator, app) as apps from targets group by ord
     ), claimed as (
       insert into operator_event_state as s (endpoint_id, type, last_sent_at, suppressed, carried, sent)
       select i.endpoint_id, i.type, ?::timestamptz, i.extra, 0, true
         from input i join received r on r.ord = i.ord
        where i.endpoint_id is not null
       on conflict (endpoint_id, type) do update set
         -- Set from the row as it was (SET reads the old values), so the outcome is returned as sent.
         sent = s.last_sent_at <= excluded.last_sent_at - make_interval(secs => ?::double precision / 1000),
         carried = case when s.last_sent_at <= excluded.last_sent_at - make_interval(secs => ?::double precision / 1000)
                        then s.suppressed else s.carried end,
         suppressed = case when s.last_sent_at <= excluded.last_sent_at - make_interval(secs => ?::double precision / 1000)
                           then excluded.suppressed else s.suppressed + 1 + excluded.suppressed end,
         last_sent_at = case when s.last_sent_at <= excluded.last_sent_at - make_interval(secs => ?::double precision / 1000)
                             then excluded.last_sent_at else s.last_sent_at end
       returning s.endpoint_id, s.type, s.sent, s.carried
     )
     select r.ord, r.apps as targets, c.sent, c.carried
       from received r join input i on i.ord = r.ord
       left join claimed c on c.endpoint_id = i.endpoint_id and c.type = i.type
      order by r.ord`,
    [
      JSON.stringify(inputs),
      config.applicationId,
      config.applicationId,
      now,
      config.suppressionMs,
      config.suppressionMs,
      config.suppressionMs,
      config.suppressionMs,
    ],
  );

  const toPublish = decisions.flatMap((decision) => {
    const event = events[decision.ord]!;
    if (event.endpointId !== null && decision.sent === false) return [];
    const data = event.endpointId !== null ? { ...event.data, suppressedSinceLastEvent: decision.carried ?? 0 } : event.data;
    const payload = JSON.stringify(data);
    return decision.targets.map((applicationId) => ({
      id: newId(IdPrefix.event),
      applicationId,
      type: event.type,
      version: OPERATOR_EVENT_VERSION,
      payload,
      idempotencyKey: null,
      orderingKey: null,
    }));
  });
  await publishEvents(db, toPublish);
  return toPublish.length;
}
