/** What makes a request header well-formed: shared by the sink's option check and the CLI's `--header`. */

/** A header name: an RFC 9110 token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** What a header value may not hold: it would end the header (CR, LF) or be refused (NUL). */
const HEADER_VALUE_BREAK = /[\r\n\0]/

/** True when `name` can be a header's name. */
export function isHeaderName(name: string): boolean {
  return HEADER_NAME.test(name)
}

/** True when `value` can be a header's value (no CR, LF or NUL). */
export function isHeaderValue(value: string): boolean {
  return !HEADER_VALUE_BREAK.test(value)
}
