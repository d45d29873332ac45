/** What an audit entry shows instead of a secret: that one is set (or changed), never its value. */
export const REDACTED = '[redacted]';

/**
 * Fields that hold a secret or what guards one, by name (compared without case or underscores, so entity fields
 * and column names both match): endpoints' signing secret, previous secrets and ed25519 signing key, API keys'
 * hash, portal sessions' token and credential hashes, sources' secret, and the one-time values a mutation returns.
 */
const SECRET_FIELDS = new Set(
  ['secret', 'previousSecrets', 'signingKey', 'keyHash', 'key', 'tokenHash', 'sessionHash', 'token', 'credential', 'password'].map(
    normalise,
  ),
);

/** Fields whose keys are kept (which headers an endpoint sends) but whose values may be credentials. */
const VALUE_REDACTED_FIELDS = new Set(['headers'].map(normalise));

/** Secret-shaped strings wherever they appear: signing secrets, whole API keys, portal tokens and credentials. */
const SECRET_VALUE = /^(whsec_|hk_[0-9a-z]{8}_|hpt_|hps_)/;

function normalise(name: string): string {
  return name.replace(/_/g, '').toLowerCase();
}

/**
 * A copy of `value` fit for the audit log: JSON only (dates as ISO text), every secret field replaced by REDACTED
 * (null stays null, so "no signing key" remains visible), header values replaced, secret-shaped strings too.
 */
export function redactForAudit(value: unknown): unknown {
  return redact(value, 0);
}

function redact(value: unknown, depth: number): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return SECRET_VALUE.test(value) ? REDACTED : value;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  // Deeper than any entity's JSON: cut rather than recurse without end on a cycle.
  if (depth > 20) return REDACTED;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [field, inner] of Object.entries(value as Record<string, unknown>)) {
      if (inner === undefined || typeof inner === 'function') continue;
      const name = normalise(field);
      if (SECRET_FIELDS.has(name)) out[field] = isEmpty(inner) ? redact(inner, depth + 1) : REDACTED;
      else if (VALUE_REDACTED_FIELDS.has(name) && inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
        out[field] = Object.fromEntries(Object.keys(inner).map((header) => [header, REDACTED]));
      } else out[field] = redact(inner, depth + 1);
    }
    return out;
  }
  return null;
}

/** Nothing to hide: null, an empty string or an empty list stays as it is, so its absence remains visible. */
function isEmpty(value: unknown): boolean {
  return value === null || value === '' || (Array.isArray(value) && value.length === 0);
}
