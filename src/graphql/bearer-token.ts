/** The token from `Authorization: Bearer <token>`; undefined when the header is missing or another scheme. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
