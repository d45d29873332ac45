import { describe, expect, it } from 'vitest';
import { findDuplicateKey, findInexactNumber, loneSurrogateAt } from '../../src/modules/events/event-data';

describe('event data checks', () => {
  it('finds integers beyond ±(2^53-1) and numbers too large for a double, anywhere in a value', () => {
    expect(findInexactNumber(JSON.parse('{"a":1,"b":[1.5,-2,9007199254740991,-9007199254740991],"c":{"d":0.1}}'), 'data')).toBeNull();
    expect(findInexactNumber(JSON.parse('{"n":12345678901234567890}'), 'data')).toEqual({ path: 'data.n', value: 12345678901234567000 });
    expect(findInexactNumber(JSON.parse('{"a":{"list":[1,2,-9007199254740992]}}'), 'data')).toEqual({
      path: 'data.a.list[2]',
      value: -9007199254740992,
    });
    expect(findInexactNumber(JSON.parse('{"weird key":{"2":1e300}}'), 'data')?.path).toBe('data["weird key"]["2"]');
    expect(findInexactNumber(JSON.parse('{"x":1e400}'), 'data')).toEqual({ path: 'data.x', value: Infinity });
    // Large fractions are doubles either way: their value is kept, only integers lose digits silently.
    expect(findInexactNumber({ x: 1.5e-300, y: 123456.789 }, 'data')).toBeNull();
  });

  it('finds a key that appears twice in one object of a JSON text, with the object path', () => {
    expect(findDuplicateKey('{"b":1e3,"a":1.0,"2":0,"1":0}', 'dataJson')).toBeNull();
    expect(findDuplicateKey('{"a":1,"a":2}', 'dataJson')).toEqual({ key: 'a', path: 'dataJson' });
    // The same key in different objects, or as a string value, is not a duplicate.
    expect(findDuplicateKey('{"a":{"a":"a"},"b":[{"a":1},{"a":2}],"c":"a"}', 'dataJson')).toBeNull();
    expect(findDuplicateKey('{"list":[{"x":1},{"y":1,"y":2}]}', 'dataJson')).toEqual({ key: 'y', path: 'dataJson.list[1]' });
    // Keys compare as JSON decodes them: "\u0061" is "a"; escaped quotes and backslashes do not end a string early.
    expect(findDuplicateKey('{"a":1,"\\u0061":2}', 'dataJson')).toEqual({ key: 'a', path: 'dataJson' });
    expect(findDuplicateKey('{"q\\"":"\\\\","q\\"x":{"k":1,"k":1}}', 'dataJson')).toEqual({ key: 'k', path: 'dataJson["q\\"x"]' });
    expect(findDuplicateKey(' { "a" : [ 1 , { } ] , "b" : { "a" : 1 } } ', 'dataJson')).toBeNull();
  });

  it('finds unpaired surrogates, which have no UTF-8 form', () => {
    expect(loneSurrogateAt('{"a":"😀 é"}')).toBe(-1);
    expect(loneSurrogateAt('{"a":"\ud800"}')).toBe(6);
    expect(loneSurrogateAt('{"a":"x\udc00"}')).toBe(7);
    // An escape in the JSON text is plain ASCII: allowed.
    expect(loneSurrogateAt('{"a":"\\ud800"}')).toBe(-1);
  });
});
