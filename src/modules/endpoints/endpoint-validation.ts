import { type RetryPolicy, type RetryPresetName, RETRY_PRESETS, retryPolicyProblem, retryPreset } from '../../delivery/retry-policy';
import { RESERVED_HEADER } from '../../delivery/webhook-request';
import { badInput } from '../../lib/errors';
import { assertEventTypeFilters } from '../events/event-type-pattern';

/** The checks and normalisation of an endpoint's registration and update input (refusals are BAD_USER_INPUT). */

export interface RetryPolicyInputShape {
  preset?: string | null;
  delaysMs?: number[] | null;
  exponentialBaseMs?: number | null;
  exponentialFactor?: number | null;
  exponentialMaxMs?: number | null;
  maxAttempts?: number | null;
  maxAgeMs?: number | null;
  jitter?: number | null;
}

const MAX_HEADERS = 20;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;

export function validateConcurrency(value: number | null | undefined): number | null {
  if (value == null) return null;
  if (!Number.isInteger(value) || value < 1 || value > 1000) {
    throw badInput('"maxConcurrency" must be an integer from 1 to 1000.', { field: 'maxConcurrency' });
  }
  return value;
}

/** A preset (default "standard") with the given parts replaced, validated. */
export function retryPolicyFromInput(input: RetryPolicyInputShape): RetryPolicy {
  const presetName = input.preset ?? 'standard';
  if (!(presetName in RETRY_PRESETS)) {
    throw badInput(`"retryPolicy.preset" must be one of ${Object.keys(RETRY_PRESETS).join(', ')}.`, { field: 'retryPolicy.preset' });
  }
  const policy = retryPreset(presetName as RetryPresetName);
  const exponential = input.exponentialBaseMs != null || input.exponentialFactor != null || input.exponentialMaxMs != null;
  if (input.delaysMs != null && exponential) {
    throw badInput('Give "retryPolicy.delaysMs" or the exponential fields, not both.', { field: 'retryPolicy' });
  }
  if (input.delaysMs != null) {
    policy.schedule = { kind: 'delays', delaysMs: input.delaysMs };
    if (input.maxAttempts == null) policy.maxAttempts = input.delaysMs.length + 1;
  }
  if (exponential) {
    const current = policy.schedule.kind === 'exponential' ? policy.schedule : { baseMs: 2000, factor: 2, maxMs: 86_400_000 };
    policy.schedule = {
      kind: 'exponential',
      baseMs: input.exponentialBaseMs ?? current.baseMs,
      factor: input.exponentialFactor ?? current.factor,
      maxMs: input.exponentialMaxMs ?? current.maxMs,
    };
  }
  if (input.maxAttempts != null) policy.maxAttempts = input.maxAttempts;
  if (input.maxAgeMs != null) policy.maxAgeMs = input.maxAgeMs === 0 ? null : input.maxAgeMs;
  if (input.jitter != null) policy.jitter = input.jitter;
  const problem = retryPolicyProblem(policy);
  if (problem) throw badInput(`Invalid "retryPolicy": ${problem}.`, { field: 'retryPolicy' });
  return policy;
}

export function normaliseFilters(filters: string[] | null | undefined): string[] {
  const cleaned = [...new Set((filters ?? []).map((filter) => filter.trim()))];
  assertEventTypeFilters(cleaned);
  return cleaned;
}

export function normaliseDescription(description: string | null | undefined): string | null {
  if (description == null) return null;
  if (description.length > 1000) throw badInput('"description" is limited to 1000 characters.', { field: 'description' });
  return description;
}

export function validateHeaders(headers: Record<string, unknown> | null | undefined): Record<string, string> {
  const entries = Object.entries(headers ?? {});
  if (entries.length > MAX_HEADERS) throw badInput(`An endpoint can have at most ${MAX_HEADERS} custom headers.`, { field: 'headers' });
  const result: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (!HEADER_NAME.test(name)) throw badInput(`"${name.slice(0, 100)}" is not a valid HTTP header name.`, { field: 'headers' });
    if (RESERVED_HEADER.test(name)) {
      throw badInput(`The header "${name}" is set by Herald and cannot be overridden.`, { field: 'headers' });
    }
    if (typeof value !== 'string' || value.length > 4096 || /[\r\n\0]/.test(value)) {
      throw badInput(`The value of header "${name}" must be a string of at most 4096 characters without line breaks.`, {
        field: 'headers',
      });
    }
    result[name.toLowerCase()] = value;
  }
  return result;
}

export function normaliseVersionPins(pins: Record<string, unknown> | null | undefined): Record<string, string> {
  const entries = Object.entries(pins ?? {});
  if (entries.length > 100) throw badInput('An endpoint can pin at most 100 event types.', { field: 'eventVersions' });
  for (const [type, version] of entries) {
    if (typeof version !== 'string')
      throw badInput(`"eventVersions.${type.slice(0, 60)}" must be a version string such as "1.0".`, { field: 'eventVersions' });
  }
  return Object.fromEntries(entries) as Record<string, string>;
}
