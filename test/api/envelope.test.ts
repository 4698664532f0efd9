import { describe, expect, it } from 'vitest';
import { failure, ok } from '../../src/api/envelope.js';

describe('envelope', () => {
  it('wraps success with code 200 and message "success"', () => {
    expect(ok({ id: 'a' })).toEqual({ code: 200, message: 'success', data: { id: 'a' } });
  });

  it('wraps failures with the status as code and null data', () => {
    expect(failure(400, 'size: bad')).toEqual({ code: 400, message: 'size: bad', data: null });
  });
});
