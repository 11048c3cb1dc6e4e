import t, { type Test } from 'tap'
import { Pool, type Dispatcher } from 'undici'
import { sendRequest } from '../../../adapters/http/send-request.js'
import { startServer } from './server.js'

const post = (body: string) => ({
  path: '/',
  method: 'POST' as const,
  headers: ['content-type', 'text/plain'],
  body,
})

/** A pool to `url`, closed at the end of the test. */
function poolOf(t: Test, url: string, options?: Pool.Options): Pool {
  const pool = new Pool(url, options)
  t.teardown(() => pool.close())
  return pool
}

t.test(
  'a 2xx: its status, the request went out whole, and no body kept when none is asked for',
  async (t) => {
    const server = await startServer(t, (_req, res) => {
      res.writeHead(201).end('ignored')
    })
    const pool = poolOf(t, server.url)
    const answer = await sendRequest(pool, post('hello'), () => 0)
    t.same(answer, { status: 201, retryAfter: undefined, body: '' })
    t.equal(server.requests[0]?.body, 'hello')
  },
)

t.test('keep(status) decides per answer: all of a 2xx body, across chunks', async (t) => {
  const big = 'é'.repeat(100_000) // 200,000 bytes: several chunks
  const server = await startServer(t, (_req, res) => {
    res.writeHead(200)
    res.write(big.slice(0, 50_000))
    setImmediate(() => res.end(big.slice(50_000)))
  })
  const pool = poolOf(t, server.url)
  const seen: number[] = []
  const answer = await sendRequest(pool, post('x'), (status) => {
    seen.push(status)
    return Infinity
  })
  t.same(seen, [200], 'asked once, with the final status')
  t.equal(answer.body, big)
})

t.test('an informational 103 before the answer is not the answer', async (t) => {
  const server = await startServer(t, (_req, res) => {
    res.writeEarlyHints({ link: '</a.css>; rel=preload' })
    res
      .writeHead(200, [
        ['Retry-After', '1'],
        ['Retry-After', '2'],
      ])
      .end()
  })
  const pool = poolOf(t, server.url)
  const answer = await sendRequest(pool, post('x'), () => 0)
  t.equal(answer.status, 200)
  t.equal(answer.retryAfter, '1', 'the first of repeated Retry-After headers')
})

t.test('an error answer: its status, Retry-After, and the body cut at the limit asked for', async (t) => {
  const server = await startServer(t, (_req, res) => {
    res.writeHead(503, { 'retry-after': '7' }).end('x'.repeat(10_000))
  })
  const pool = poolOf(t, server.url)
  const answer = await sendRequest(pool, post('x'), (status) => (status >= 300 ? 100 : 0))
  t.equal(answer.status, 503)
  t.equal(answer.retryAfter, '7')
  t.equal(answer.body, 'x'.repeat(100))
})

t.test('a body far past what is kept is cut off, the answer still given, and the pool goes on', async (t) => {
  const server = await startServer(t, (_req, res, n) => {
    if (n === 1) {
      res.writeHead(200)
      const chunk = Buffer.alloc(64 * 1024, 0x61)
      let sent = 0
      // 4 MiB, paced by the socket: the client cuts it after 1 MiB past what it keeps.
      const more = (): void => {
        while (sent < 64) {
          sent++
          if (!res.write(chunk)) {
            res.once('drain', more)
            return
          }
        }
        res.end()
      }
      more()
    } else res.writeHead(204).end()
  })
  const pool = poolOf(t, server.url, { connections: 1 })
  const answer = await sendRequest(pool, post('x'), () => 10)
  t.same(answer, { status: 200, retryAfter: undefined, body: 'a'.repeat(10) })
  const next = await sendRequest(pool, post('y'), () => 0)
  t.equal(next.status, 204, 'the next request is answered (on a new connection)')
})

t.test('a network fault rejects with undici’s error', async (t) => {
  const server = await startServer(t, (_req, res) => {
    res.socket?.destroy()
  })
  const pool = poolOf(t, server.url)
  await t.rejects(
    sendRequest(pool, post('x'), () => 0),
    { code: 'UND_ERR_SOCKET' },
  )
})

t.test('a closed pool rejects at once', async (t) => {
  const pool = new Pool('http://127.0.0.1:9')
  await pool.close()
  await t.rejects(
    sendRequest(pool, post('x'), () => 0),
    { code: 'UND_ERR_DESTROYED' },
  )
})

t.test('a request undici starts over keeps nothing of the answer it was getting before', async (t) => {
  // undici resends a pipelined idempotent request whose connection failed mid-answer; the handler
  // sees onRequestStart again. A scripted dispatcher plays that: a 503 with Retry-After and part of
  // its body, then the resent request's 200 without either.
  const dispatcher = {
    dispatch(_request: unknown, handler: Dispatcher.DispatchHandler): boolean {
      const controller = {} as Dispatcher.DispatchController
      handler.onRequestStart?.(controller, {})
      handler.onResponseStart?.(controller, 503, { 'retry-after': '7' }, 'Service Unavailable')
      handler.onResponseData?.(controller, Buffer.from('busy'))
      handler.onRequestStart?.(controller, {})
      handler.onResponseStart?.(controller, 200, {}, 'OK')
      handler.onResponseData?.(controller, Buffer.from('fine'))
      handler.onResponseEnd?.(controller, {})
      return true
    },
  } as unknown as Dispatcher
  const answer = await sendRequest(dispatcher, post('x'), (status) => (status === 200 ? Infinity : 4096))
  t.same(answer, { status: 200, retryAfter: undefined, body: 'fine' })
})
