import { describe, expect, it } from 'vitest';
import { OPERATOR_EVENT_TYPES } from '../../src/modules/catalog/operator-catalog';
import { compileSchema } from '../../src/modules/catalog/schema-validator';
import { SEED_EVENT_TYPES } from '../../src/modules/catalog/seed-catalog';
import { EVENT_TYPE, matchesEventType } from '../../src/modules/events/event-type-pattern';
import { OPERATOR_EVENT_VERSION, OperatorEventType, isOperatorEventType } from '../../src/queue/operator-events';

describe('the operator event catalog', () => {
  it('has one entry per operator event type, each a valid type that the filter herald.* takes', () => {
    expect(OPERATOR_EVENT_TYPES.map((type) => type.name).sort()).toEqual(Object.values(OperatorEventType).sort());
    for (const type of OPERATOR_EVENT_TYPES) {
      expect(type.name).toMatch(EVENT_TYPE);
      expect(matchesEventType(['herald.*'], type.name)).toBe(true);
      expect(isOperatorEventType(type.name)).toBe(true);
      expect(type.version).toBe(OPERATOR_EVENT_VERSION);
    }
    // No seed type is mistaken for one of Herald's own.
    expect(SEED_EVENT_TYPES.filter((type) => isOperatorEventType(type.name))).toEqual([]);
  });

  it('each example satisfies its schema, and a payload missing a required field does not', () => {
    for (const type of OPERATOR_EVENT_TYPES) {
      const validate = compileSchema(type.schema);
      expect(validate(type.example), `${type.name}: ${JSON.stringify(validate.errors)}`).toBe(true);
      const required = (type.schema.required as string[])[0]!;
      const { [required]: _removed, ...incomplete } = type.example;
      expect(validate(incomplete), `${type.name} without ${required}`).toBe(false);
    }
  });

  it('payloads carry no URL or secret field', () => {
    for (const type of OPERATOR_EVENT_TYPES) {
      const fields = Object.keys((type.schema.properties as Record<string, unknown>) ?? {});
      expect(
        fields.filter((field) => /url|secret|header|key/i.test(field)),
        type.name,
      ).toEqual([]);
    }
  });
});
