/**
 * One HTTP request through undici's `dispatch`, answered as what the HTTP sink needs: the status,
 * `Retry-After`, and as much of the body as it asked for.
 *
 * Why not `pool.request`: it builds, per request, an `AsyncResource`, a `Readable` for the body and
 * the promises to drain it, where the sink wants a status and, at most, some bytes. On H1's batches
 * that was ~8 µs of user CPU per request (about 13% of the client's), measured on one Pool against
 * the same server. This handler keeps only what was asked for and lets the rest of the body pass.
 */
import type { Dispatcher } from 'undici'

/** What the server answered. */
export interface Answer {
  readonly status: number
  /** The `Retry-After` header, if any. */
  readonly retryAfter: string | undefined
  /** The kept part of the body, decoded as UTF-8 (`''` when none was kept). */
  readonly body: string
}

/** The request, as `Dispatcher.dispatch` takes it. */
export type RequestOptions = Dispatcher.DispatchOptions

/**
 * Bytes of a response body read past the kept part before the connection is given up (a response
 * that long is cut, as undici's `body.dump()` cuts one).
 */
const DISCARD_LIMIT = 1 << 20

/** The handler of one request: new-style undici hooks, no stream and no header object kept. */
class AnswerCollector implements Dispatcher.DispatchHandler {
  readonly #resolve: (answer: Answer) => void
  readonly #reject: (error: Error) => void
  readonly #keep: (status: number) => number
  #status = 0
  #retryAfter: string | undefined = undefined
  #limit = 0
  #chunks: Buffer[] | null = null
  #kept = 0
  #seen = 0
  /** Set when this handler cut the body off: the error that follows is its own doing. */
  #cut = false

  constructor(
    resolve: (answer: Answer) => void,
    reject: (error: Error) => void,
    keep: (status: number) => number,
  ) {
    this.#resolve = resolve
    this.#reject = reject
    this.#keep = keep
  }

  onRequestStart(): void {
    // A pipelined request resent by undici starts over.
    this.#status = 0
    this.#chunks = null
    this.#kept = 0
    this.#seen = 0
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 200) return // 1xx: the answer is still to come
    this.#status = statusCode
    const retryAfter = headers['retry-after']
    this.#retryAfter = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter
    this.#limit = this.#keep(statusCode)
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#seen += chunk.length
    if (this.#kept < this.#limit) {
      ;(this.#chunks ??= []).push(chunk)
      this.#kept += chunk.length
    } else if (this.#seen - this.#kept > DISCARD_LIMIT) {
      this.#cut = true
      controller.abort(new Error('response body cut'))
    }
  }

  onResponseEnd(): void {
    this.#answer()
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.#cut) this.#answer()
    else this.#reject(error)
  }

  #answer(): void {
    const chunks = this.#chunks
    let body = ''
    if (chunks !== null) {
      const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)
      body = bytes.toString('utf8', 0, Math.min(bytes.length, this.#limit))
    }
    this.#resolve({ status: this.#status, retryAfter: this.#retryAfter, body })
  }
}

/**
 * Sends `request` through `dispatcher` and resolves with the answer once the response has ended
 * (rejects on a network fault or timeout, with undici's error). `keep(status)` says how many bytes
 * of that response's body to keep (`Infinity` for all of it, `0` for none); the rest is read and
 * dropped, or, past 1 MiB, the connection is cut.
 */
export function sendRequest(
  dispatcher: Dispatcher,
  request: RequestOptions,
  keep: (status: number) => number,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    dispatcher.dispatch(request, new AnswerCollector(resolve, reject, keep))
  })
}
