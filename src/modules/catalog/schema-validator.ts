import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { badInput } from '../../lib/errors';

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);

/** Catalog versions are immutable once registered, so a compiled validator per type@version is reused. */
const compiled = new Map<string, { schemaJson: string; validate: ValidateFunction }>();

/** Compiles a JSON Schema, or throws BAD_USER_INPUT saying why it is not a usable schema. */
export function compileSchema(schema: Record<string, unknown>, field = 'schema'): ValidateFunction {
  try {
    return ajv.compile(schema);
  } catch (error) {
    throw badInput(`"${field}" is not a valid JSON Schema: ${(error as Error).message}`, { field });
  }
}

export function validatorFor(key: string, schema: Record<string, unknown>): ValidateFunction {
  const schemaJson = JSON.stringify(schema);
  const cached = compiled.get(key);
  if (cached && cached.schemaJson === schemaJson) return cached.validate;
  const validate = compileSchema(schema);
  compiled.set(key, { schemaJson, validate });
  return validate;
}

export interface SchemaViolation {
  /** JSON Pointer into the payload, `/items/0/price`; empty for the payload itself. */
  path: string;
  message: string;
}

export function violationsOf(errors: ErrorObject[] | null | undefined): SchemaViolation[] {
  return (errors ?? []).map((error) => {
    if (error.keyword === 'required') {
      return {
        path: `${error.instancePath}/${String((error.params as { missingProperty?: string }).missingProperty)}`,
        message: 'is required',
      };
    }
    return { path: error.instancePath, message: error.message ?? error.keyword };
  });
}

/** "data/amount must be number; data/currency is required" style text for the error message. */
export function describeViolations(violations: SchemaViolation[], limit = 5): string {
  const shown = violations.slice(0, limit).map((v) => `data${v.path} ${v.message}`);
  const more = violations.length > limit ? ` (and ${violations.length - limit} more)` : '';
  return shown.join('; ') + more;
}
