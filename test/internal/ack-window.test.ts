import t from 'tap'
import fc from 'fast-check'
import { AckWindow } from '../../lib/internal/ack-window.js'

t.test('the watermark is the first record not done; a gap holds it back', (t) => {
  const w = new AckWindow()
  const seqs = [10, 11, 12, 13].map((offset) => w.track(offset))
  t.same(seqs, [0, 1, 2, 3])
  t.ok(w.mark(1))
  t.ok(w.mark(3))
  t.notOk(w.advance(), 'record 0 is still in flight')
  t.equal(w.low, 0)
  t.ok(Number.isNaN(w.lastA), 'nothing below the watermark yet')
  t.ok(w.mark(0))
  t.ok(w.advance())
  t.equal(w.low, 2)
  t.equal(w.lastA, 11)
  t.ok(w.mark(2))
  t.ok(w.advance())
  t.equal(w.low, 4)
  t.equal(w.lastA, 13)
  t.equal(w.inFlight, 0)
  t.end()
})

t.test('a record acked twice, or never tracked, is refused', (t) => {
  const w = new AckWindow()
  const seq = w.track(1, 2)
  t.notOk(w.mark(seq + 1))
  t.notOk(w.mark('0'))
  t.notOk(w.mark(-1))
  t.ok(w.mark(seq))
  t.notOk(w.mark(seq), 'done already')
  w.advance()
  t.notOk(w.mark(seq), 'below the watermark')
  t.equal(w.lastB, 2)
  t.end()
})

t.test('acks in any order move the watermark exactly over the acked prefix, across ring growth', (t) => {
  fc.assert(
    fc.property(
      fc
        .array(fc.nat(), { minLength: 1, maxLength: 500 })
        .chain((keys) => fc.tuple(fc.constant(keys.length), fc.shuffledSubarray(keys.map((_, i) => i)))),
      ([n, acked]) => {
        const w = new AckWindow()
        for (let i = 0; i < n; i++) w.track(1000 + i, i)
        const done = new Set<number>()
        for (const seq of acked) {
          if (!w.mark(seq)) return false
          done.add(seq)
          w.advance()
          let low = 0
          while (done.has(low)) low++
          if (w.low !== low) return false
          if (low > 0 && w.lastA !== 1000 + low - 1) return false
        }
        return w.inFlight === n - w.low && w.capacity >= n - w.low
      },
    ),
  )
  t.pass('property held')
  t.end()
})
