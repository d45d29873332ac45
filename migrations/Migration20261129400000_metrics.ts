import { Migration } from '@mikro-orm/migrations';

/**
 * Delivery rollups for metrics: one row per endpoint per minute (and per hour, for long windows), written in the transaction that records
 * each attempt outcome, so metrics never scan the deliveries. Latency is a fixed-bucket histogram with
 * one column per bucket (see src/modules/metrics/latency-histogram.ts). endpoint_health keeps the running
 * state an attempt changes (failures in a row, last error), beside the endpoint row other code updates.
 *
 * No foreign keys to endpoints, on purpose: the check would make the executor take a lock on the endpoint
 * row while it holds the delivery row, the opposite order of deleteEndpoint's cascade (a deadlock). Rows of
 * a deleted endpoint stay as history; every read starts from the endpoints table.
 */
export class Migration20261129400000_metrics extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "delivery_metrics_minutely" (
        "endpoint_id" text not null,
        "minute" timestamptz not null,
        "application_id" text not null,
        "attempts" int not null default 0,
        "delivered" int not null default 0,
        "failed" int not null default 0,
        "dead" int not null default 0,
        "latency_sum_ms" bigint not null default 0,
        "latency_max_ms" int not null default 0,
        "latency_le_10" int not null default 0,
        "latency_le_25" int not null default 0,
        "latency_le_50" int not null default 0,
        "latency_le_100" int not null default 0,
        "latency_le_250" int not null default 0,
        "latency_le_500" int not null default 0,
        "latency_le_1000" int not null default 0,
        "latency_le_2500" int not null default 0,
        "latency_le_5000" int not null default 0,
        "latency_le_10000" int not null default 0,
        "latency_le_30000" int not null default 0,
        "latency_le_inf" int not null default 0,
        constraint "delivery_metrics_minutely_pkey" primary key ("endpoint_id", "minute")
      );`,
    );
    this.addSql(`create index "delivery_metrics_minutely_minute_index" on "delivery_metrics_minutely" ("minute");`);
    this.addSql(
      `create index "delivery_metrics_minutely_application_id_minute_index" on "delivery_metrics_minutely" ("application_id", "minute");`,
    );

    // The same, per hour: long windows read 60 times fewer rows.
    this.addSql(
      `create table "delivery_metrics_hourly" (
        "endpoint_id" text not null,
        "hour" timestamptz not null,
        "application_id" text not null,
        "attempts" int not null default 0,
        "delivered" int not null default 0,
        "failed" int not null default 0,
        "dead" int not null default 0,
        "latency_sum_ms" bigint not null default 0,
        "latency_max_ms" int not null default 0,
        "latency_le_10" int not null default 0,
        "latency_le_25" int not null default 0,
        "latency_le_50" int not null default 0,
        "latency_le_100" int not null default 0,
        "latency_le_250" int not null default 0,
        "latency_le_500" int not null default 0,
        "latency_le_1000" int not null default 0,
        "latency_le_2500" int not null default 0,
        "latency_le_5000" int not null default 0,
        "latency_le_10000" int not null default 0,
        "latency_le_30000" int not null default 0,
        "latency_le_inf" int not null default 0,
        constraint "delivery_metrics_hourly_pkey" primary key ("endpoint_id", "hour")
      );`,
    );
    this.addSql(`create index "delivery_metrics_hourly_hour_index" on "delivery_metrics_hourly" ("hour");`);
    this.addSql(
      `create index "delivery_metrics_hourly_application_id_hour_index" on "delivery_metrics_hourly" ("application_id", "hour");`,
    );

    this.addSql(
      `create table "endpoint_health" (
        "endpoint_id" text not null,
        "consecutive_failures" int not null default 0,
        "last_error" text null,
        "last_error_at" timestamptz null,
        "last_success_at" timestamptz null,
        constraint "endpoint_health_pkey" primary key ("endpoint_id")
      );`,
    );

    // Queue depth and the oldest undelivered age read only the open deliveries, never the whole log.
    this.addSql(
      `create index "deliveries_open_index" on "deliveries" ("application_id", "created_at") include ("endpoint_id", "status") where "status" in ('PENDING', 'FAILED');`,
    );
  }
}
