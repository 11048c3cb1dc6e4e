import t from 'tap'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { concurrentMap, InvalidOptionError } from '../../lib/index.js'
import { collector, countingSource, range } from '../helpers.js'

t.test('maps every item in order with a synchronous function', async (t) => {
  const sink = collector<number>()
  await pipeline(
    Readable.from(range(100)),
    concurrentMap((x: number) => x * 2),
    sink,
  )
  t.same(
    sink.items,
    range(100).map((x) => x * 2),
  )
})

t.test('rejects a concurrency of 0 with SW_ERR_INVALID_OPTION', (t) => {
  t.throws(() => concurrentMap((x) => x, { concurrency: 0 }), {
    code: 'SW_ERR_INVALID_OPTION',
    message: '`options.concurrency` must be an integer ≥ 1, got 0',
  })
  t.ok(new InvalidOptionError('x', 'y') instanceof Error)
  t.ok(countingSource([1]).reads === 0)
  t.end()
})
