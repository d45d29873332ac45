/**
 * Credential-shaped text Herald must never write to a log or send back in an error: endpoint secrets
 * (`whsec_`, ed25519 `whsk_`), API keys (`hk_`), bearer tokens and Standard Webhooks signatures. Used on
 * every log line as it is written, so even an error message that quotes SQL with a secret in it (as a
 * database driver's does) is safe.
 */
const CREDENTIAL_PATTERNS: RegExp[] = [
  /whsec_[A-Za-z0-9+/=_-]+/g,
  /whsk_[A-Za-z0-9+/=_-]+/g,
  /\bhk_[A-Za-z0-9]+_[A-Za-z0-9_-]+/g,
  /\b(Bearer)\s+[A-Za-z0-9._~+/=-]+/gi,
  /\bv1a?,[A-Za-z0-9+/]{40,}={0,2}/g,
];

export const REDACTED = '[redacted]';

export function redactCredentials(text: string): string {
  let result = text;
  for (const pattern of CREDENTIAL_PATTERNS) {
    result = result.replace(pattern, (match, bearer?: string) =>
      typeof bearer === 'string' && /^bearer$/i.test(bearer) ? `${bearer} ${REDACTED}` : REDACTED,
    );
  }
  return result;
}
