export interface GraphQLFailure {
  message: string;
  extensions?: { code?: string };
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/**
 * One GraphQL request over HTTP with `Authorization: Bearer`. Kept apart from the WebSocket client so
 * the page's first script can ask for data without loading graphql-ws.
 */
export function graphqlRequest<T>(apiKey: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  return graphqlAnswer<T>(
    fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ query, variables }),
    }),
  );
}

/** The data of a GraphQL answer, or its first error as an ApiError (with the error's code). */
export async function graphqlAnswer<T>(pending: Promise<Response>): Promise<T> {
  const response = await pending;
  const result = (await response.json()) as { data?: T; errors?: GraphQLFailure[] };
  const error = result.errors?.[0];
  if (error) throw new ApiError(error.message, error.extensions?.code);
  if (!result.data) throw new ApiError(`Herald answered HTTP ${response.status} without data.`, undefined);
  return result.data;
}
