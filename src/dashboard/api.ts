import { type Client, createClient } from 'graphql-ws';
import { ApiError, graphqlRequest } from './http';

export { ApiError };

/**
 * Talks to Herald's GraphQL API with the signed-in key: `Authorization: Bearer` on HTTP, and the same
 * header in the graphql-ws connection_init payload.
 */
export class HeraldApi {
  private ws: Client | null = null;

  constructor(private readonly apiKey: string) {}

  private get authorization(): string {
    return `Bearer ${this.apiKey}`;
  }

  request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    return graphqlRequest<T>(this.apiKey, query, variables);
  }

  subscribe<T>(query: string, variables: Record<string, unknown>, onData: (data: T) => void, onError: (error: Error) => void): () => void {
    return this.socket().subscribe<T>(
      { query, variables },
      {
        next: (value) => {
          if (value.errors?.length) onError(new ApiError(value.errors[0]?.message ?? 'subscription error', undefined));
          else if (value.data) onData(value.data as T);
        },
        error: (error) => onError(error instanceof Error ? error : new Error(String((error as { reason?: string }).reason ?? error))),
        complete: () => undefined,
      },
    );
  }

  onConnection(listener: (connected: boolean) => void): void {
    const socket = this.socket();
    socket.on('connected', () => listener(true));
    socket.on('closed', () => listener(false));
  }

  private socket(): Client {
    if (!this.ws) {
      const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
      this.ws = createClient({
        url,
        connectionParams: { Authorization: this.authorization },
        retryAttempts: Infinity,
        shouldRetry: () => true,
        lazy: false,
      });
    }
    return this.ws;
  }

  dispose(): void {
    void this.ws?.dispose();
    this.ws = null;
  }
}
