import t from 'tap'
import { MalformedRecordError, Message, noopAcknowledger, type Acknowledger } from '../../../lib/index.js'
import {
  ErrorBudget,
  malformedMessage,
  newRecordSourceStats,
  recordMessage,
} from '../../../adapters/file/record-source.js'
import type { RecordPosition, RecordTracker } from '../../../adapters/file/position.js'

t.test(
  'the error budget trips on the count at once, on the ratio only from minRowsForRatio or at the end',
  (t) => {
    const budget = new ErrorBudget({ maxFailedRows: 2, maxFailedRatio: 0.1, minRowsForRatio: 100 })
    t.equal(budget.exceeded(10, 2, false), undefined, 'two failures are within maxFailedRows')
    t.match(budget.exceeded(10, 3, false), /maxFailedRows \(2\)/)
    const ratio = new ErrorBudget({ maxFailedRows: Infinity, maxFailedRatio: 0.1, minRowsForRatio: 100 })
    t.equal(ratio.exceeded(50, 20, false), undefined, 'not judged by ratio before 100 rows')
    t.match(ratio.exceeded(50, 20, true), /maxFailedRatio \(0.1\)/, 'judged at the end of a short input')
    t.match(ratio.exceeded(100, 11, false), /11 malformed records of 100/)
    t.equal(ratio.exceeded(100, 10, false), undefined, 'exactly at the ratio is allowed')
    t.end()
  },
)

t.test('records get the tracker’s acknowledger; malformed ones are failed and skip the processors', (t) => {
  const tracked: RecordPosition[] = []
  const acknowledger: Acknowledger = { ack() {} }
  const tracker: RecordTracker = {
    track(position) {
      tracked.push(position)
      return { acknowledger, ackData: tracked.length }
    },
  }
  const good = recordMessage({ a: 1 }, { line: 1 }, tracker, { line: 1, offset: 10 })
  t.equal(good.acknowledger, acknowledger)
  t.equal(good.ackData, 1)
  t.notOk(good.isFailed)
  const reason = new MalformedRecordError('bad', { line: 2, raw: 'x,"y' })
  const bad = malformedMessage('x,"y', reason, { line: 2 }, tracker, { line: 2, offset: 15 })
  t.ok(bad.isFailed)
  t.equal(bad.skipProcessing, true)
  t.equal(bad.data, 'x,"y')
  t.same(tracked, [
    { line: 1, offset: 10 },
    { line: 2, offset: 15 },
  ])
  const untracked = recordMessage(1, {}, undefined, { line: 1, offset: 1 })
  t.equal(untracked.acknowledger, noopAcknowledger)
  t.type(untracked, Message)
  t.same(newRecordSourceStats(), {
    rows: 0,
    failed: 0,
    bytesRead: 0,
    totalBytes: undefined,
    budgetExceeded: undefined,
    ended: false,
  })
  t.end()
})
