import { Pool } from 'undici';

/**
 * The benchmark's GraphQL-over-HTTP client. Every request goes through `headers()`, the one place that
 * adds `Authorization: Bearer <key>` when an API key is configured.
 */
export class BenchGraphqlClient {
  private readonly pool: Pool;

  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string | null,
    connections = 64,
  ) {
    this.pool = new Pool(baseUrl, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  }

  headers(): Record<string, string> {
    return { 'content-type': 'application/json', ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}) };
  }

  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const response = await this.pool.request({
      method: 'POST',
      path: '/graphql',
      headers: this.headers(),
      body: JSON.stringify({ query, variables }),
    });
    const text = await response.body.text();
    let parsed: { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new Error(`HTTP ${response.statusCode} from ${this.baseUrl}/graphql: ${text.slice(0, 200)}`);
    }
    if (parsed.errors?.length || !parsed.data) {
      const first = parsed.errors?.[0];
      const code = first?.extensions?.code;
      const hint =
        response.statusCode === 401 || code === 'UNAUTHENTICATED'
          ? ' (Herald wants an API key: set HERALD_BENCH_API_KEY, or bench against a fresh database so the admin key printed on first start is picked up)'
          : '';
      throw new Error(
        `GraphQL error${code ? ` ${code}` : ''} (HTTP ${response.statusCode}): ${first?.message ?? text.slice(0, 200)}${hint}`,
      );
    }
    return parsed.data;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
