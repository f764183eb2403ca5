// An error a handler or hook throws to answer the client with {code, message} (PRODUCT.md §2's
// codes: bad_request, unauthorized, forbidden, not_found, rate_limited, payload_too_large,
// unavailable, internal, or the application's own). The SDK rejects with it too.
export class RoomcastError extends Error {
  constructor(code, message = '', options = undefined) {
    super(message || String(code), options);
    this.name = 'RoomcastError';
    this.code = typeof code === 'string' && code.length > 0 ? code : 'internal';
    // The message the client sees: what the caller wrote, never the code repeated.
    this.clientMessage = message ? String(message) : '';
  }
}
