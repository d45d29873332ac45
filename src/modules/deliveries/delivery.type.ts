import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { AttemptErrorKind } from '../../delivery/attempt-outcome';
import { ConnectionType } from '../../graphql/pagination';
import type { DeliveryAttemptEntity } from './delivery-attempt.entity';
import { DeliveryStatus } from '../../queue/delivery-status';
import type { DeliveryEntity } from './delivery.entity';

registerEnumType(DeliveryStatus, {
  name: 'DeliveryStatus',
  valuesConfig: {
    PENDING: { description: 'Waiting for its first attempt, or re-queued by retryDelivery.' },
    SUCCEEDED: { description: 'The endpoint answered 2xx.' },
    FAILED: { description: 'The last attempt failed; another is scheduled at nextAttemptAt.' },
    DEAD: { description: 'Every attempt failed: a dead letter until retryDelivery re-queues it.' },
    CANCELLED: { description: 'Cancelled by cancelPendingDeliveries before it finished; never attempted again.' },
  },
});

registerEnumType(AttemptErrorKind, {
  name: 'AttemptErrorKind',
  valuesConfig: {
    TIMEOUT: { description: 'No complete answer within the delivery timeout.' },
    DNS: { description: 'The host name did not resolve.' },
    CONNECT: { description: 'The connection could not be opened (refused, unreachable).' },
    RESET: { description: 'The connection closed before a complete response.' },
    TLS: { description: 'The TLS handshake or certificate check failed.' },
    HTTP_STATUS: { description: 'The endpoint answered with a status other than 2xx.' },
    BLOCKED: { description: 'The destination address is not allowed by the SSRF policy.' },
    INVALID_RESPONSE: { description: 'The endpoint sent something that is not valid HTTP.' },
  },
});

@ObjectType('DeliveryAttempt', { description: 'One HTTP request of a delivery and what came back.' })
export class DeliveryAttemptType {
  @Field(() => ID)
  id!: string;

  @Field(() => Int, { description: '1 for the first attempt.' })
  number!: number;

  @Field()
  attemptedAt!: Date;

  @Field()
  url!: string;

  @Field(() => GraphQLJSONObject, { description: 'Headers sent, with signatures and credentials shown as [redacted].' })
  requestHeaders!: Record<string, string>;

  @Field(() => Int, { nullable: true })
  responseStatus!: number | null;

  @Field(() => String, { nullable: true, description: 'The first 16 KiB of the response body (configurable).' })
  responseBody!: string | null;

  @Field()
  responseBodyTruncated!: boolean;

  @Field(() => Int)
  durationMs!: number;

  @Field(() => AttemptErrorKind, { nullable: true })
  errorKind!: AttemptErrorKind | null;

  @Field(() => String, { nullable: true })
  errorMessage!: string | null;

  static from(entity: DeliveryAttemptEntity): DeliveryAttemptType {
    return Object.assign(new DeliveryAttemptType(), {
      id: entity.id,
      number: entity.number,
      attemptedAt: entity.attemptedAt,
      url: entity.url,
      requestHeaders: entity.requestHeaders,
      responseStatus: entity.responseStatus,
      responseBody: entity.responseBody,
      responseBodyTruncated: entity.responseBodyTruncated,
      durationMs: entity.durationMs,
      errorKind: entity.errorKind,
      errorMessage: entity.errorMessage,
    });
  }
}

@ObjectType('Delivery', { description: 'One event on its way to one endpoint.' })
export class DeliveryType {
  @Field(() => ID)
  id!: string;

  @Field(() => ID)
  eventId!: string;

  @Field(() => ID)
  endpointId!: string;

  @Field(() => ID)
  applicationId!: string;

  @Field()
  eventType!: string;

  @Field(() => DeliveryStatus)
  status!: DeliveryStatus;

  @Field(() => Int)
  attemptCount!: number;

  @Field(() => Date, { nullable: true })
  nextAttemptAt!: Date | null;

  @Field(() => Date, { nullable: true })
  lastAttemptAt!: Date | null;

  @Field(() => Int, { nullable: true })
  lastStatusCode!: number | null;

  @Field(() => AttemptErrorKind, { nullable: true })
  lastErrorKind!: AttemptErrorKind | null;

  @Field(() => String, { nullable: true })
  lastError!: string | null;

  @Field(() => Date, { nullable: true })
  succeededAt!: Date | null;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;

  static from(entity: DeliveryEntity): DeliveryType {
    return Object.assign(new DeliveryType(), {
      id: entity.id,
      eventId: entity.event.id,
      endpointId: entity.endpoint.id,
      applicationId: entity.application.id,
      eventType: entity.eventType,
      status: entity.status,
      attemptCount: entity.attemptCount,
      nextAttemptAt: entity.nextAttemptAt,
      lastAttemptAt: entity.lastAttemptAt,
      lastStatusCode: entity.lastStatusCode,
      lastErrorKind: entity.lastErrorKind,
      lastError: entity.lastError,
      succeededAt: entity.succeededAt,
      createdAt: entity.createdAt,
      updatedAt: entity.updatedAt,
    });
  }
}

@ObjectType()
export class DeliveryConnection extends ConnectionType(DeliveryType, 'Delivery') {}

@ObjectType({ description: 'A change to a delivery: an attempt outcome or a status change.' })
export class DeliveryUpdate {
  @Field(() => DeliveryType)
  delivery!: DeliveryType;

  @Field(() => DeliveryAttemptType, { nullable: true, description: 'The attempt that caused the change, if any.' })
  attempt!: DeliveryAttemptType | null;
}
