import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import {
  DeleteEndpointDocument,
  DeliveriesDocument,
  type DeliveriesQuery,
  type DeliveryFilter,
  DeliveryUpdatedDocument,
  type DeliveryUpdatedSubscription,
  type DeliveryUpdatedSubscriptionVariables,
  DisableEndpointDocument,
  EnableEndpointDocument,
  EndpointDocument,
  type EndpointFilter,
  EndpointsDocument,
  type EndpointsQuery,
  EventPublishedDocument,
  type EventPublishedSubscription,
  type EventPublishedSubscriptionVariables,
  type EventFilter,
  EventTypeDefinitionDocument,
  EventTypesDocument,
  EventsDocument,
  type EventsQuery,
  type PageInput,
  PublishEventDocument,
  type PublishEventInput,
  PublishEventsDocument,
  RegisterEndpointDocument,
  type RegisterEndpointInput,
  ReplayDeadLettersDocument,
  type ReplayDeadLettersInput,
  ReplayDocument,
  type ReplayFieldsFragment,
  ReplayUpdatedDocument,
  RotateEndpointSecretDocument,
  type UpdateEndpointInput,
  UpdateEndpointDocument,
} from './generated/graphql';

export interface HeraldClientOptions {
  /** Herald's base URL, for example http://127.0.0.1:4000 (`/graphql` is appended). */
  url: string;
  /** Sent as `Authorization: Bearer <key>` on HTTP and in the graphql-ws connection_init payload. */
  apiKey?: string;
  /** Per-request timeout in ms (default 30 s). */
  timeoutMs?: number;
}

/** A GraphQL error from Herald, with its stable `extensions.code`. */
export class HeraldApiError extends Error {
  override name = 'HeraldApiError';
  constructor(
    message: string,
    readonly code: string,
    readonly errors: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }>,
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * The producer SDK: a typed client over Herald's GraphQL API, built on the codegen'd operations in
 * ./generated/graphql. Every method returns exactly the fields its operation selects.
 */
export class HeraldClient {
  readonly graphqlUrl: string;
  private ws: Client | null = null;

  constructor(private readonly options: HeraldClientOptions) {
    this.graphqlUrl = `${options.url.replace(/\/+$/, '').replace(/\/graphql$/, '')}/graphql`;
  }

  /** Runs any typed operation; throws HeraldApiError on GraphQL errors. */
  async request<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables?: TVariables): Promise<TData> {
    const response = await fetch(this.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...this.authorization() },
      body: JSON.stringify({ query: print(document), variables }),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
    });
    const text = await response.text();
    let result: { data?: TData | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
    try {
      result = JSON.parse(text) as typeof result;
    } catch {
      throw new HeraldApiError(
        `Herald answered HTTP ${response.status} with a body that is not JSON.`,
        'BAD_RESPONSE',
        [],
        response.status,
      );
    }
    if (result.errors?.length) {
      const [first] = result.errors;
      throw new HeraldApiError(first!.message, String(first!.extensions?.code ?? 'UNKNOWN'), result.errors, response.status);
    }
    if (!result.data)
      throw new HeraldApiError(`Herald answered HTTP ${response.status} without data.`, 'BAD_RESPONSE', [], response.status);
    return result.data;
  }

  async publishEvent(input: PublishEventInput) {
    return (await this.request(PublishEventDocument, { input })).publishEvent;
  }

  /** All events in one transaction: every one is published, or none. */
  async publishEvents(inputs: PublishEventInput[]) {
    return (await this.request(PublishEventsDocument, { inputs })).publishEvents;
  }

  async registerEndpoint(input: RegisterEndpointInput) {
    return (await this.request(RegisterEndpointDocument, { input })).registerEndpoint;
  }

  async updateEndpoint(id: string, input: UpdateEndpointInput) {
    return (await this.request(UpdateEndpointDocument, { id, input })).updateEndpoint;
  }

  async disableEndpoint(id: string, reason?: string) {
    return (await this.request(DisableEndpointDocument, { id, reason })).disableEndpoint;
  }

  async enableEndpoint(id: string) {
    return (await this.request(EnableEndpointDocument, { id })).enableEndpoint;
  }

  async deleteEndpoint(id: string) {
    return (await this.request(DeleteEndpointDocument, { id })).deleteEndpoint;
  }

  async rotateEndpointSecret(id: string) {
    return (await this.request(RotateEndpointSecretDocument, { id })).rotateEndpointSecret;
  }

  async getEndpoint(id: string) {
    return (await this.request(EndpointDocument, { id })).endpoint;
  }

  async listEndpoints(filter?: EndpointFilter, page?: PageInput): Promise<EndpointsQuery['endpoints']> {
    return (await this.request(EndpointsDocument, { filter, page })).endpoints;
  }

  async listEvents(filter?: EventFilter, page?: PageInput): Promise<EventsQuery['events']> {
    return (await this.request(EventsDocument, { filter, page })).events;
  }

  async listDeliveries(filter?: DeliveryFilter, page?: PageInput): Promise<DeliveriesQuery['deliveries']> {
    return (await this.request(DeliveriesDocument, { filter, page })).deliveries;
  }

  /** Starts re-queueing every dead letter the filter matches (in the background); dryRun only counts them. */
  async replayDeadLetters(filter: ReplayDeadLettersInput, dryRun = false): Promise<ReplayFieldsFragment> {
    return (await this.request(ReplayDeadLettersDocument, { filter, dryRun })).replayDeadLetters;
  }

  async getReplay(id: string): Promise<ReplayFieldsFragment> {
    return (await this.request(ReplayDocument, { id })).replay;
  }

  /** A replay's progress after each batch, and its end, live over graphql-ws. Returns unsubscribe. */
  subscribeReplay(
    id: string,
    onUpdate: (replay: ReplayFieldsFragment) => void,
    onError: (error: unknown) => void = () => undefined,
  ): () => void {
    return this.subscribe(ReplayUpdatedDocument, { id }, (data) => onUpdate(data.replayUpdated), onError);
  }

  async eventTypes(includeDeprecated = true) {
    return (await this.request(EventTypesDocument, { includeDeprecated })).eventTypes;
  }

  async eventType(name: string) {
    return (await this.request(EventTypeDefinitionDocument, { name })).eventType;
  }

  /** Every delivery outcome and status change matching the filter, live over graphql-ws. Returns unsubscribe. */
  subscribeDeliveries(
    variables: DeliveryUpdatedSubscriptionVariables,
    onUpdate: (update: DeliveryUpdatedSubscription['deliveryUpdated']) => void,
    onError: (error: unknown) => void = () => undefined,
  ): () => void {
    return this.subscribe(DeliveryUpdatedDocument, variables, (data) => onUpdate(data.deliveryUpdated), onError);
  }

  /** Every event as it is published, live over graphql-ws. Returns unsubscribe. */
  subscribeEvents(
    variables: EventPublishedSubscriptionVariables,
    onEvent: (event: EventPublishedSubscription['eventPublished']) => void,
    onError: (error: unknown) => void = () => undefined,
  ): () => void {
    return this.subscribe(EventPublishedDocument, variables, (data) => onEvent(data.eventPublished), onError);
  }

  /** Opens the graphql-ws connection now (it opens on first subscribe otherwise); resolves once acknowledged. */
  async connect(): Promise<void> {
    const client = this.socket(false);
    await new Promise<void>((resolve, reject) => {
      const offConnected = client.on('connected', () => {
        offConnected();
        offError();
        resolve();
      });
      const offError = client.on('closed', (event) => {
        offConnected();
        offError();
        reject(new Error(`The subscription connection closed: ${(event as { reason?: string })?.reason || 'no reason given'}`));
      });
    });
  }

  async close(): Promise<void> {
    await this.ws?.dispose();
    this.ws = null;
  }

  private subscribe<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables: TVariables,
    onData: (data: TData) => void,
    onError: (error: unknown) => void,
  ): () => void {
    return this.socket().subscribe<TData>(
      { query: print(document), variables: variables as Record<string, unknown> },
      {
        next: (result) => {
          if (result.errors?.length)
            onError(new HeraldApiError(result.errors[0]!.message, String(result.errors[0]!.extensions?.code ?? 'UNKNOWN'), result.errors));
          else if (result.data) onData(result.data as TData);
        },
        error: onError,
        complete: () => undefined,
      },
    );
  }

  private socket(lazy = true): Client {
    this.ws ??= createClient({
      url: this.graphqlUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : undefined,
      retryAttempts: 5,
      lazy,
      keepAlive: 10_000,
      // graphql-ws prints a non-lazy connection's failure with console.error (a whole CloseEvent); the caller of
      // connect() reports it instead.
      onNonLazyError: () => undefined,
    });
    return this.ws;
  }

  private authorization(): Record<string, string> {
    return this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {};
  }
}
