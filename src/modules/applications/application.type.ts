import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, ObjectType } from 'type-graphql';
import { ConnectionType } from '../../graphql/pagination';
import type { ApplicationEntity } from './application.entity';

@ObjectType('Application', { description: 'A tenant: the customer whose endpoints receive its events.' })
export class ApplicationType {
  @Field(() => ID)
  id!: string;

  @Field()
  name!: string;

  @Field(() => GraphQLJSONObject, { nullable: true })
  metadata!: Record<string, unknown> | null;

  @Field()
  createdAt!: Date;

  static from(entity: ApplicationEntity): ApplicationType {
    return Object.assign(new ApplicationType(), {
      id: entity.id,
      name: entity.name,
      metadata: entity.metadata,
      createdAt: entity.createdAt,
    });
  }
}

@ObjectType()
export class ApplicationConnection extends ConnectionType(ApplicationType, 'Application') {}
