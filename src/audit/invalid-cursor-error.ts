/** A store's list() was given a cursor it did not hand out; the API answers it with a 400. */
export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
    this.name = 'InvalidCursorError';
  }
}
