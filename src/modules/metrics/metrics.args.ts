import { ArgsType, Field, ID } from 'type-graphql';
import { MetricsWindow } from './metrics-window';

@ArgsType()
export class MetricsArgs {
  @Field(() => MetricsWindow, { defaultValue: MetricsWindow.LAST_HOUR })
  window!: MetricsWindow;

  @Field(() => ID, { nullable: true, description: 'Only this application.' })
  applicationId?: string;

  @Field(() => ID, { nullable: true, description: 'Only this endpoint.' })
  endpointId?: string;
}
