import t, { type Test } from 'tap'
import { Readable } from 'node:stream'
import { pino } from 'pino'
import { Message, Pipeline } from '../../../lib/index.js'
import { httpSink } from '../../../adapters/http/index.js'
import { seededRandom } from '../../helpers.js'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

// A real HTTP server on 127.0.0.1, recording every request it gets.
/** One request as the server received it. */
interface Received {
  readonly method: string
  readonly url: string
  readonly headers: IncomingMessage['headers']
  readonly body: string
  /** The idempotency key header, if any. */
  readonly key: string | undefined
}

/** Answers a request: `n` is the request's 1-based number at this server. */
type Answer = (req: Received, res: ServerResponse, n: number) => void

interface TestServer {
  readonly url: string
  readonly requests: Received[]
}

/** Starts a server with `answer`, closed (with its open connections) at the end of the test. */
async function startServer(t: Test, answer: Answer): Promise<TestServer> {
  const requests: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const key = req.headers['idempotency-key']
      const received: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        key: typeof key === 'string' ? key : undefined,
      }
      requests.push(received)
      answer(received, res, requests.length)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => {
          resolve()
        })
      }),
  )
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${String(port)}`, requests }
}

/** Answers 200 with an empty JSON object. */
function ok(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
}

t.test(
  'a Pipeline posts 10k records to a flaky server: each is received once or failed, none missing',
  async (t) => {
    const random = seededRandom(42)
    /** Records the server accepted, by idempotency key: a key seen again is a duplicate, not counted. */
    const accepted = new Map<string, number[]>()
    let duplicates = 0
    const server = await startServer(t, (req, res) => {
      const roll = random()
      if (roll < 0.3) {
        res.writeHead(500).end('flaky') // lost before processing
        return
      }
      const key = req.key ?? ''
      if (accepted.has(key)) duplicates++
      else
        accepted.set(
          key,
          (JSON.parse(req.body) as { id: number }[]).map((r) => r.id),
        )
      if (roll < 0.4) res.writeHead(503).end('processed, but the answer is lost')
      else ok(res)
    })
    const sink = httpSink<{ id: number }>({
      url: `${server.url}/records`,
      retries: 3,
      minDelayMs: 1,
      maxDelayMs: 4,
      random: seededRandom(7),
      logger: pino({ level: 'silent' }),
    })
    const failedIds: number[] = []
    const total = 10_000
    const p = new Pipeline<{ id: number }>({
      name: `http-e2e-${String(process.pid)}-${String(Date.now())}`,
      logger: pino({ level: 'silent' }),
      producer: {
        source: () => Readable.from(Array.from({ length: total }, (_, i) => new Message({ id: i }))),
      },
      batchers: { default: { batchSize: 100, batchTimeoutMs: 50, concurrency: 4 } },
      handleMessage: (_, message) => message,
      handleBatch: sink.handleBatch,
      handleFailed(messages) {
        for (const m of messages) failedIds.push(m.data.id)
        return messages
      },
    })
    await p.start()
    const report = await p.done
    await sink.close()
    t.equal(report.reason, 'ended')
    t.equal(report.received, total)
    t.equal(report.successful + report.failed, total, 'every record acked')
    t.equal(report.unacked, 0)

    const received = [...accepted.values()].flat()
    t.equal(new Set(received).size, received.length, 'no record counted twice (deduped by key)')
    t.ok(duplicates > 0, `the server saw ${String(duplicates)} retried batches it had already processed`)
    t.ok(failedIds.length > 0, `${String(failedIds.length)} records failed after the retries`)
    t.equal(report.failed, failedIds.length)
    const union = new Set([...received, ...failedIds])
    const missing = Array.from({ length: total }, (_, i) => i).filter((id) => !union.has(id))
    t.same(missing, [], 'none missing: every record received or failed')
    t.equal(sink.stats.delivered, report.successful)
  },
)
