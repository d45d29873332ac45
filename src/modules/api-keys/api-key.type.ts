import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { ConnectionType } from '../../graphql/pagination';
import { type ApiKeyEntity, ApiKeyKind } from './api-key.entity';

registerEnumType(ApiKeyKind, {
  name: 'ApiKeyKind',
  description: "ADMIN: everything. APPLICATION: one application's endpoints, events, deliveries and subscriptions.",
});

@ObjectType('ApiKey', { description: 'An API key, without the key itself: only its prefix is ever shown again.' })
export class ApiKeyType {
  @Field(() => ID)
  id!: string;

  @Field()
  name!: string;

  @Field(() => ApiKeyKind)
  kind!: ApiKeyKind;

  @Field(() => ID, { nullable: true, description: 'The application an APPLICATION key is limited to.' })
  applicationId!: string | null;

  @Field({ description: 'The first characters of the key (`hk_1a2b3c4d`), to tell keys apart.' })
  prefix!: string;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  expiresAt!: Date | null;

  @Field(() => Date, { nullable: true })
  revokedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'Approximate (to the minute).' })
  lastUsedAt!: Date | null;

  static from(entity: ApiKeyEntity): ApiKeyType {
    return Object.assign(new ApiKeyType(), {
      id: entity.id,
      name: entity.name,
      kind: entity.kind,
      applicationId: entity.application?.id ?? null,
      prefix: entity.prefix,
      createdAt: entity.createdAt,
      expiresAt: entity.expiresAt,
      revokedAt: entity.revokedAt,
      lastUsedAt: entity.lastUsedAt,
    });
  }
}

@ObjectType()
export class ApiKeyConnection extends ConnectionType(ApiKeyType, 'ApiKey') {}

@ObjectType({ description: 'A new API key: the only time the key itself is shown.' })
export class ApiKeyWithSecret {
  @Field(() => ApiKeyType)
  apiKey!: ApiKeyType;

  @Field({ description: 'The key (`hk_...`): send it as "Authorization: Bearer <key>". Store it now; it is never shown again.' })
  key!: string;
}
