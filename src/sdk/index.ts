/**
 * Herald's SDKs, published as the `@herald/sdk` package (packages/sdk builds it from here): the receiver side
 * (verify deliveries, express and node:http middleware, dedupe) and the producer side (a typed GraphQL client).
 */
export {
  type DedupeStore,
  type HeaderSource,
  MemoryDedupeStore,
  type ReceiverOptions,
  type VerifiedWebhook,
  type VerifyOptions,
  type WebhookErrorCode,
  WebhookVerificationError,
  WebhookVerifier,
  createWebhookHandler,
  verifyWebhook,
  webhookMiddleware,
} from './receiver';
export { signWebhook } from './signer';
export { HeraldApiError, HeraldClient, type HeraldClientOptions } from './client';
export type * from './generated/graphql';
