/**
 * `httpSink`: POSTs each batch to an HTTP endpoint as one JSON array or as NDJSON, through an undici
 * `Pool`. Transient faults (network errors, timeouts, 408, 429, 5xx) are retried with exponential
 * backoff and full jitter (`withRetries`), honouring `Retry-After`; other 4xx are not. Every attempt
 * of a batch carries the same idempotency key, so a server that dedupes on it sees each batch once
 * even though delivery is at-least-once. With `itemResults`, only the items the server rejected fail.
 *
 * Buffer bound: the sink holds no queue of its own. Each `handleBatch` call holds its batch's payload
 * (one string or Buffer) until the request ends; requests beyond `connections × pipelining` wait in
 * the pool's queue, so at most as many payloads are held as there are `handleBatch` calls in flight
 * (the pipeline's batcher concurrency). `writable()` holds at most `writableHighWaterMark` items plus
 * one batch in flight.
 *
 * Hot path: per batch one packed array of the data (`dataOf`: `JSON.stringify`'s fast path; a
 * `map` result is holey and takes the slow one), one `JSON.stringify`, one UUID, one copy of the
 * header list (built once), one request through `sendRequest`; per record nothing else (NDJSON: one
 * `JSON.stringify` per record, the format's own cost). Data that is bytes is copied into one Buffer
 * body, with no string made. Retry state (options, closures) is built only after a failed attempt.
 */
import { dataOf, isBytes, joinedBytes, jsonText } from '../../lib/internal/json-text.js'
import { batchMessages, sinkWritable } from '../../lib/internal/sink.js'
import { createHash, randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import { Pool } from 'undici'
import { z } from 'zod'
import { HttpStatusError, InvalidHandlerResultError, ItemRejectedError } from '../../lib/errors.js'
import { withRetries, type RetryVerdict } from '../../lib/internal/retry.js'
import { isHeaderName, isHeaderValue } from './header.js'
import { defaultLogger, isLogger, redactPaths, type Logger } from '../../lib/logger.js'
import { Message } from '../../lib/message.js'
import {
  delaysInOrder,
  func,
  integer,
  parseOptions,
  retryOptionFields,
  type ResolvedOptions,
} from '../../lib/options.js'
import { sendRequest } from './send-request.js'

/** What `itemResults` gives for one item: `true` (accepted) or the server's reason for rejecting it. */
export type ItemResult = true | { readonly error: string; readonly code?: string }

/** A request body: JSON text, or the bytes of JSON values joined. */
type Body = string | Buffer

/**
 * Checks `headers` at construction, so that a bad one fails there, naming it, rather than every
 * request failing later. The messages name the header, never its value (it may be a secret).
 */
function checkHeaders(headers: Record<string, string>, ctx: z.RefinementCtx): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!isHeaderName(name))
      ctx.addIssue({
        code: 'custom',
        message: `has ${JSON.stringify(name)}, which is not a header name`,
        input: name,
      })
    else if (!isHeaderValue(value))
      ctx.addIssue({
        code: 'custom',
        message: `has a value for ${JSON.stringify(name)} with CR, LF or NUL`,
        input: name,
      })
  }
}

/** Schema of `httpSink`'s options; the docs table and the type come from it. */
export const httpSinkOptionsSchema = z
  .strictObject({
    url: z
      .custom<string | URL>(
        (v) => {
          if (typeof v !== 'string' && !(v instanceof URL)) return false
          try {
            const { protocol } = new URL(v)
            return protocol === 'http:' || protocol === 'https:'
          } catch {
            return false
          }
        },
        { error: 'must be an http: or https: URL' },
      )
      .meta({ description: 'Endpoint the batches are sent to (required).' }),
    method: z
      .enum(['POST', 'PUT', 'PATCH'], { error: "must be 'POST', 'PUT' or 'PATCH'" })
      .default('POST')
      .meta({ description: 'HTTP method of each request.' }),
    format: z.enum(['json', 'ndjson'], { error: "must be 'json' or 'ndjson'" }).default('json').meta({
      description:
        '`json`: the body is one JSON array (`application/json`); `ndjson`: one JSON line per item (`application/x-ndjson`).',
    }),
    headers: z
      .record(z.string(), z.string(), { error: 'must be an object of header names to string values' })
      .superRefine(checkHeaders)
      .optional()
      .meta({
        description: 'Headers of every request (e.g. `authorization`); never logged.',
        sensitive: true,
      }),
    connections: integer(1)
      .default(10)
      .meta({ description: 'Most connections the pool opens to the server (requests in flight at once).' }),
    pipelining: integer(1).default(1).meta({ description: 'Requests pipelined on one connection.' }),
    timeoutMs: integer(1, { max: 2 ** 31 - 1 })
      .default(30_000)
      .meta({
        description:
          'Most time to connect, to wait for the response headers, and between two chunks of the response body; a timeout is retried.',
      }),
    ...retryOptionFields(
      { retries: 5, minDelayMs: 100, maxDelayMs: 30_000 },
      ', backoff and `Retry-After` alike',
    ),
    idempotencyHeader: z
      .custom<string | false>((v) => v === false || (typeof v === 'string' && isHeaderName(v)), {
        error: 'must be a header name or false',
      })
      .default('Idempotency-Key')
      .meta({
        description:
          'Header carrying the batch’s idempotency key, the same on every attempt; `false` sends none.',
      }),
    idempotencyKey: func<(messages: never[]) => string>().optional().meta({
      description:
        'Key of a batch, from its messages (e.g. `metadataIdempotencyKey`, stable across redeliveries).',
      default: 'a random UUID per batch',
    }),
    toBody: func<(messages: never[]) => unknown>().optional().meta({
      description: 'What is sent for a batch (an array for `ndjson`).',
      default: '`messages.map((m) => m.data)`',
    }),
    itemResults: func<(responseBody: unknown, messages: never[]) => readonly ItemResult[]>().optional().meta({
      description:
        'Reads per-item results from a 2xx response body (parsed JSON): one `true` or `{ error, code? }` per message; rejected items fail with `ItemRejectedError`.',
    }),
    logger: z
      .custom<Logger>((v) => isLogger(v), { error: 'must be a pino logger' })
      .optional()
      .meta({
        description: 'A pino logger; the sink logs through a child that redacts auth headers.',
        default: 'pino at `warn` to stderr',
      }),
    random: func<() => number>().optional().meta({
      description: 'Random source of the backoff jitter, in [0, 1) (tests pass a fixed one).',
      default: '`Math.random`',
    }),
    writableHighWaterMark: integer(1)
      .default(100)
      .meta({ description: 'Items `writable()` buffers; buffered items are sent together as one batch.' }),
  })
  .superRefine(delaysInOrder)

/** Options of `httpSink`, typed by the message data `T`. */
export type HttpSinkOptions<T = unknown> = Omit<
  z.input<typeof httpSinkOptionsSchema>,
  'idempotencyKey' | 'toBody' | 'itemResults'
> & {
  idempotencyKey?: (messages: Message<T>[]) => string
  toBody?: (messages: Message<T>[]) => unknown
  itemResults?: (responseBody: unknown, messages: Message<T>[]) => readonly ItemResult[]
}

/** Counters of an `httpSink`, live. */
export interface HttpSinkStats {
  /** Requests sent, retries included. */
  readonly requests: number
  /** Retries (requests after a batch's first). */
  readonly retries: number
  /** Batches the server accepted (a 2xx). */
  readonly batches: number
  /** Messages delivered and not rejected. */
  readonly delivered: number
  /** Messages failed: batch failures, rejected items and data with no JSON form. */
  readonly failed: number
  /** Items the server rejected through `itemResults`. */
  readonly rejected: number
  /** `handleBatch` calls in flight. */
  readonly inFlight: number
}

/** What `httpSink` returns. */
export interface HttpSink<T = unknown> {
  /**
   * Sends the batch and resolves with its messages once the server answered, or once the sink gave
   * up: then every message of the batch is failed (`SinkRetriesExhaustedError` after the retries,
   * `HttpStatusError` for a 4xx that is not retried). Use it as `handleBatch`, or call it inside one
   * with the messages alone.
   */
  handleBatch: {
    <U extends T>(messages: Message<U>[]): Promise<Message<U>[]>
    <U extends T>(batcher: string, messages: Message<U>[], ...rest: unknown[]): Promise<Message<U>[]>
  }
  /**
   * An object-mode Writable of data (or of messages): what is buffered is sent as one batch. A batch
   * that fails, or an item the server rejects, destroys it with that reason. Ending it closes the sink.
   */
  writable(): Writable
  /** Waits for the batches in flight, then closes the pool. */
  close(): Promise<void>
  readonly stats: HttpSinkStats
}

/** Error codes of network faults worth another attempt (undici's and the system's). */
const RETRYABLE_CODES = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
])

/** Bytes of an error response kept for `HttpStatusError.body`. */
const ERROR_BODY_LIMIT = 4096

/** `Retry-After` of a retried status, in ms, keyed by its error. */
const retryAfterOf = new WeakMap<HttpStatusError, number>()

/**
 * `Retry-After` in ms: delay-seconds or an HTTP-date (relative to `now`); `undefined` when absent
 * or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  if (text === undefined) return undefined
  const trimmed = text.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/**
 * How the HTTP sink treats a fault: 408, 429 and 5xx are retried (after `Retry-After` when the
 * response had one), other statuses are not; network faults and timeouts are retried; anything else
 * (a bug, a closed pool) is not.
 */
export function classifyHttpFault(error: unknown): RetryVerdict {
  if (error instanceof HttpStatusError) {
    const s = error.status
    if (s !== 408 && s !== 429 && s < 500) return false
    const afterMs = retryAfterOf.get(error)
    return afterMs === undefined ? true : { afterMs }
  }
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && RETRYABLE_CODES.has(code)
}

/**
 * An idempotency key stable across redeliveries of the same records: a hash of the first and last
 * messages' metadata and the batch's length. Use it when the metadata says where a record came from
 * (a file and line, a topic and offset); never when it is empty (every batch would get one key).
 */
export function metadataIdempotencyKey(messages: readonly Message[]): string {
  const first = messages[0]?.metadata
  const last = messages[messages.length - 1]?.metadata
  return createHash('sha256')
    .update(JSON.stringify([first, last, messages.length]))
    .digest('base64url')
}

/**
 * A sink that sends each batch to an HTTP endpoint. See `docs/adapters/http.md`.
 *
 * @example
 * const sink = httpSink({ url: 'https://api.example.com/v1/events', headers: { authorization: `Bearer ${token}` } })
 * new Pipeline({ …, batchers: { default: { batchSize: 100, concurrency: 10 } }, handleBatch: sink.handleBatch })
 * // later: await sink.close()
 */
export function httpSink<T = unknown>(options: HttpSinkOptions<T>): HttpSink<T> {
  const o: ResolvedOptions<typeof httpSinkOptionsSchema> = parseOptions(httpSinkOptionsSchema, options)
  const url = new URL(o.url)
  const path = url.pathname + url.search
  /** The URL as logged: no credentials, no query (it may hold a key). */
  const logUrl = url.origin + url.pathname
  const ndjson = o.format === 'ndjson'
  const idempotencyKey = o.idempotencyKey as ((messages: Message<T>[]) => string) | undefined
  const toBody = o.toBody as ((messages: Message<T>[]) => unknown) | undefined
  const itemResults = o.itemResults as
    ((responseBody: unknown, messages: Message<T>[]) => readonly ItemResult[]) | undefined
  const idempotencyHeader = o.idempotencyHeader === false ? undefined : o.idempotencyHeader.toLowerCase()

  const baseHeaders: Record<string, string> = {
    'content-type': ndjson ? 'application/x-ndjson' : 'application/json',
  }
  if (url.username !== '')
    baseHeaders.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
  for (const [name, value] of Object.entries(o.headers ?? {})) baseHeaders[name.toLowerCase()] = value
  /**
   * The headers every request carries, as undici's flat `[name, value, …]` list, built once: a batch
   * with a key sends a copy with the key appended, and the key replaces a header of the same name
   * given in `headers`. (Spreading an object with the key as a computed property cost ~10× more per
   * batch than the copy, and undici walks a list without `Object.keys`.)
   */
  const baseHeaderList: readonly string[] = Object.entries(baseHeaders)
    .filter(([name]) => name !== idempotencyHeader)
    .flat()

  const log = (o.logger ?? defaultLogger()).child(
    { sink: 'http', url: logUrl },
    {
      redact: {
        paths: [
          ...redactPaths,
          'headers["x-api-key"]',
          '*.headers["x-api-key"]',
          'headers["set-cookie"]',
          '*.headers["set-cookie"]',
        ],
        censor: '[redacted]',
      },
    },
  )
  const pool = new Pool(url.origin, {
    connections: o.connections,
    pipelining: o.pipelining,
    headersTimeout: o.timeoutMs,
    bodyTimeout: o.timeoutMs,
    connect: { timeout: o.timeoutMs },
  })
  // POSTs are pipelined only when undici may resend them, i.e. when the server can dedupe them.
  const idempotent = o.pipelining > 1 && idempotencyHeader !== undefined

  const stats = { requests: 0, retries: 0, batches: 0, delivered: 0, failed: 0, rejected: 0, inFlight: 0 }
  let closing: Promise<void> | undefined
  let idle: (() => void) | undefined

  /** The payload of `messages`, failing (and dropping) the messages whose data has no JSON form. */
  function payloadOf(messages: Message<T>[]): { payload: Body; sent: Message<T>[] } {
    if (toBody !== undefined) {
      const body = toBody(messages)
      if (!ndjson) {
        const json = jsonText(body)
        if (typeof json !== 'string') throw json
        return { payload: json, sent: messages }
      }
      if (!Array.isArray(body))
        throw new InvalidHandlerResultError('toBody', 'an array with the `ndjson` format', body)
      let text = ''
      for (const item of body as unknown[]) {
        const json = jsonText(item)
        if (typeof json !== 'string') throw json
        text += json + '\n'
      }
      return { payload: text, sent: messages }
    }
    // Bytes are JSON text already (a Kafka value, say): copied into the body as they are, not
    // decoded to a string and encoded again.
    let bytes = 0
    for (const message of messages) if (isBytes(message.data)) bytes++
    if (bytes === messages.length && bytes > 0)
      return { payload: joinedBytes(messages, ndjson), sent: messages }
    if (!ndjson) {
      if (bytes === 0)
        try {
          const json = JSON.stringify(dataOf(messages)) as string | undefined
          if (json !== undefined) return { payload: json, sent: messages }
        } catch {
          // One item has no JSON form: find it below, fail it, send the others.
        }
    }
    let text = ''
    const sent: Message<T>[] = []
    for (const message of messages) {
      const json = jsonText(message.data)
      if (typeof json === 'string') {
        text += ndjson ? json + '\n' : (sent.length === 0 ? '' : ',') + json
        sent.push(message)
      } else {
        message.failed(json)
        stats.failed++
      }
    }
    return { payload: ndjson ? text : `[${text}]`, sent }
  }

  /** Applies the server's per-item results to `sent`. */
  function applyItemResults(
    read: (responseBody: unknown, messages: Message<T>[]) => readonly ItemResult[],
    responseBody: unknown,
    sent: Message<T>[],
  ): void {
    const results = read(responseBody, sent)
    if (!Array.isArray(results) || results.length !== sent.length) {
      const error = new InvalidHandlerResultError(
        'itemResults',
        `an array of ${String(sent.length)} results`,
        results,
      )
      for (const message of sent) message.failed(error)
      stats.failed += sent.length
      return
    }
    for (let i = 0; i < sent.length; i++) {
      const result: unknown = results[i]
      const message = sent[i] as Message<T>
      if (result === true) {
        stats.delivered++
        continue
      }
      const rejection = result as { error?: unknown; code?: unknown } | null
      if (typeof rejection === 'object' && rejection !== null && typeof rejection.error === 'string') {
        message.failed(
          new ItemRejectedError(
            rejection.error,
            typeof rejection.code === 'string' ? rejection.code : undefined,
          ),
        )
        stats.rejected++
      } else {
        message.failed(
          new InvalidHandlerResultError('itemResults', '`true` or `{ error, code? }` per item', result),
        )
      }
      stats.failed++
    }
  }

  /** Bytes of the body to keep: all of a 2xx when `itemResults` reads it, the start of an error. */
  const keep = (status: number): number =>
    status >= 200 && status < 300 ? (itemResults === undefined ? 0 : Infinity) : ERROR_BODY_LIMIT

  /** One request; resolves with the parsed body when `itemResults` needs it; throws on a non-2xx. */
  async function attempt(payload: Body, headers: readonly string[], n: number): Promise<unknown> {
    stats.requests++
    if (n > 1) stats.retries++
    const answer = await sendRequest(
      pool,
      { path, method: o.method, headers: headers as string[], body: payload, idempotent },
      keep,
    )
    const status = answer.status
    if (status >= 200 && status < 300) {
      if (itemResults === undefined || answer.body === '') return undefined
      try {
        return JSON.parse(answer.body) as unknown
      } catch {
        return answer.body
      }
    }
    const error = new HttpStatusError(status, answer.body)
    const retryAfter = parseRetryAfter(answer.retryAfter)
    if (retryAfter !== undefined) retryAfterOf.set(error, retryAfter)
    throw error
  }

  /**
   * The attempts after a failed first one. `withRetries` takes over with the first fault replayed as
   * its attempt 1, so the verdict, the delays, the numbering and the log lines are those of one loop
   * over every attempt, while a batch answered at once (the common case) builds no retry state.
   */
  function retry(
    first: unknown,
    payload: Body,
    headers: readonly string[],
    key: string | undefined,
    count: number,
  ): Promise<unknown> {
    const replayFirst = async (n: number): Promise<unknown> => {
      if (n === 1) throw first
      return attempt(payload, headers, n)
    }
    return withRetries(replayFirst, {
      retries: o.retries,
      minDelayMs: o.minDelayMs,
      maxDelayMs: o.maxDelayMs,
      classify: classifyHttpFault,
      random: o.random,
      onRetry(error, attemptNo, delayMs) {
        log.warn(
          {
            status: error instanceof HttpStatusError ? error.status : undefined,
            code: error instanceof HttpStatusError ? undefined : (error as { code?: unknown } | null)?.code,
            attempt: attemptNo,
            delayMs,
            idempotencyKey: key,
            messages: count,
          },
          'HTTP sink: retrying a batch',
        )
      },
    })
  }

  async function send(messages: Message<T>[]): Promise<void> {
    let prepared: { payload: Body; sent: Message<T>[] }
    try {
      prepared = payloadOf(messages)
    } catch (error) {
      for (const message of messages) message.failed(error)
      stats.failed += messages.length
      return
    }
    const { payload, sent } = prepared
    if (sent.length === 0) return
    let headers = baseHeaderList
    let key: string | undefined
    if (idempotencyHeader !== undefined) {
      try {
        key = idempotencyKey === undefined ? randomUUID() : idempotencyKey(sent)
        if (typeof key !== 'string' || key === '')
          throw new InvalidHandlerResultError('idempotencyKey', 'a non-empty string', key)
      } catch (error) {
        for (const message of sent) message.failed(error)
        stats.failed += sent.length
        return
      }
      headers = [...baseHeaderList, idempotencyHeader, key]
    }
    let responseBody: unknown
    try {
      responseBody = await attempt(payload, headers, 1)
    } catch (first) {
      try {
        responseBody = await retry(first, payload, headers, key, sent.length)
      } catch (error) {
        log.error(
          {
            status: error instanceof HttpStatusError ? error.status : undefined,
            code: (error as { code?: unknown } | null)?.code,
            idempotencyKey: key,
            messages: sent.length,
          },
          'HTTP sink: batch failed',
        )
        for (const message of sent) message.failed(error)
        stats.failed += sent.length
        return
      }
    }
    stats.batches++
    if (itemResults === undefined) {
      stats.delivered += sent.length
      return
    }
    try {
      applyItemResults(itemResults, responseBody, sent)
    } catch (error) {
      for (const message of sent) if (!message.isFailed) message.failed(error)
      stats.failed += sent.length
    }
  }

  async function handleBatch<U extends T>(
    first: string | Message<U>[],
    second?: Message<U>[],
  ): Promise<Message<U>[]> {
    const messages = batchMessages(first, second)
    if (closing !== undefined) throw new Error('The HTTP sink is closed')
    if (messages.length === 0) return messages
    stats.inFlight++
    try {
      await send(messages)
    } finally {
      if (--stats.inFlight === 0) idle?.()
    }
    return messages
  }

  function writable(): Writable {
    return sinkWritable<T>({ handleBatch, close, highWaterMark: o.writableHighWaterMark })
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      if (stats.inFlight > 0)
        await new Promise<void>((resolve) => {
          idle = resolve
        })
      await pool.close()
    })()
    return closing
  }

  return { handleBatch, writable, close, stats }
}
