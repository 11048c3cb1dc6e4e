import t from 'tap'
import { Readable } from 'node:stream'
import { pino } from 'pino'
import { Message, Pipeline } from '../../../lib/index.js'
import { httpSink } from '../../../adapters/http/index.js'
import { seededRandom } from '../../helpers.js'
import { ok, startServer } from './server.js'

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
