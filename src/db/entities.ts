import { ApiKeyEntity } from '../modules/api-keys/api-key.entity';
import { ApplicationEntity } from '../modules/applications/application.entity';
import { DeliveryAttemptEntity } from '../modules/deliveries/delivery-attempt.entity';
import { DeliveryEntity } from '../modules/deliveries/delivery.entity';
import { EndpointEntity } from '../modules/endpoints/endpoint.entity';
import { EventEntity } from '../modules/events/event.entity';

export const entities = [ApiKeyEntity, ApplicationEntity, EndpointEntity, EventEntity, DeliveryEntity, DeliveryAttemptEntity];
