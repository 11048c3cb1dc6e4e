import t from 'tap'
import { InvalidOptionError, Message, MissingFromBatchError, noopAcknowledger } from '../lib/index.js'
import type { Acknowledger } from '../lib/index.js'
import { reasonLabel } from '../lib/message.js'

t.test('a new message is ok, goes to the default batcher and key in bulk mode, with no metadata', (t) => {
  const message = new Message({ id: 1 })
  t.same(message.data, { id: 1 })
  t.same(message.status, { kind: 'ok' })
  t.equal(message.isFailed, false)
  t.equal(message.batcher, 'default')
  t.equal(message.batchKey, 'default')
  t.equal(message.batchMode, 'bulk')
  t.same(message.metadata, {})
  t.ok(Object.isFrozen(message.metadata), 'the empty metadata is frozen')
  t.equal(message.acknowledger, noopAcknowledger)
  t.equal(message.ackData, undefined)
  t.end()
})

t.test('the constructor keeps the metadata, acknowledger and ackData it is given', (t) => {
  const acknowledger: Acknowledger = { ack() {} }
  const metadata = { offset: 42 }
  const message = new Message('x', { metadata, acknowledger, ackData: { tag: 7 } })
  t.equal(message.metadata, metadata)
  t.equal(message.acknowledger, acknowledger)
  t.same(message.ackData, { tag: 7 })
  t.end()
})

t.test('the noop acknowledger accepts any ack and is frozen', (t) => {
  t.equal(noopAcknowledger.ack([new Message(1)], [new Message(2)]), undefined)
  t.ok(Object.isFrozen(noopAcknowledger))
  t.end()
})

t.test('failed marks the message failed with its reason and returns it', (t) => {
  const message = new Message(1)
  const reason = new Error('boom')
  t.equal(message.failed(reason), message)
  t.equal(message.isFailed, true)
  t.same(message.status, { kind: 'failed', reason })
  t.equal(message.status.kind === 'failed' ? message.status.reason : undefined, reason)
  message.failed('again')
  t.same(message.status, { kind: 'failed', reason: 'again' }, 'a later failure replaces the reason')
  t.end()
})

t.test('putBatcher sets the batcher and rejects an empty or non-string name', (t) => {
  const message = new Message(1)
  t.equal(message.putBatcher('http'), message)
  t.equal(message.batcher, 'http')
  for (const bad of ['', 3, undefined, null]) {
    t.throws(
      () => message.putBatcher(bad as string),
      { name: 'InvalidOptionError', code: 'SW_ERR_INVALID_OPTION', path: 'batcher' },
      `rejects ${String(bad)}`,
    )
  }
  t.equal(message.batcher, 'http', 'a rejected name leaves the batcher as it was')
  t.end()
})

t.test('putBatchKey accepts any key', (t) => {
  const message = new Message(1)
  const key = { shard: 3 }
  t.equal(message.putBatchKey(key), message)
  t.equal(message.batchKey, key)
  message.putBatchKey(undefined)
  t.equal(message.batchKey, undefined)
  t.end()
})

t.test("putBatchMode takes 'bulk' or 'flush' and rejects anything else", (t) => {
  const message = new Message(1)
  t.equal(message.putBatchMode('flush'), message)
  t.equal(message.batchMode, 'flush')
  message.putBatchMode('bulk')
  t.equal(message.batchMode, 'bulk')
  for (const bad of ['FLUSH', '', 1, undefined]) {
    t.throws(
      () => message.putBatchMode(bad as 'bulk'),
      { name: 'InvalidOptionError', code: 'SW_ERR_INVALID_OPTION', path: 'batchMode' },
      `rejects ${String(bad)}`,
    )
  }
  t.equal(message.batchMode, 'bulk')
  t.end()
})

t.test('configureAck passes ackData, options and the message to configure and stores the result', (t) => {
  const calls: unknown[][] = []
  const acknowledger: Acknowledger = {
    ack() {},
    configure(ackData, options, message) {
      calls.push([ackData, options, message])
      return { ...(ackData as object), ...(options as object) }
    },
  }
  const message = new Message('x', { acknowledger, ackData: { tag: 1 } })
  t.equal(message.configureAck({ requeue: true }), message)
  t.equal(calls.length, 1)
  t.same(calls[0]?.[0], { tag: 1 })
  t.same(calls[0]?.[1], { requeue: true })
  t.equal(calls[0]?.[2], message)
  t.same(message.ackData, { tag: 1, requeue: true })
  t.end()
})

t.test('configureAck throws InvalidOptionError when the acknowledger has no configure', (t) => {
  const message = new Message('x', { ackData: 'kept' })
  t.throws(() => message.configureAck({}), InvalidOptionError)
  t.throws(() => message.configureAck({}), { code: 'SW_ERR_INVALID_OPTION', path: 'acknowledger' })
  t.equal(message.ackData, 'kept')
  t.end()
})

t.test('updateData and putData replace the data on the same message', (t) => {
  const message = new Message(2, { metadata: { source: 'a' } })
  const doubled = message.updateData((n) => n * 2)
  t.equal(doubled, message, 'updateData returns the same message')
  t.equal(doubled.data, 4)
  const text = doubled.putData('four')
  t.equal(text, message, 'putData returns the same message')
  t.equal(text.data, 'four')
  t.same(text.metadata, { source: 'a' }, 'metadata is untouched')
  t.end()
})

t.test('helpers chain', (t) => {
  const message = new Message(1)
    .putBatcher('db')
    .putBatchKey('tenant-1')
    .putBatchMode('flush')
    .updateData((n) => n + 1)
  t.equal(message.data, 2)
  t.equal(message.batcher, 'db')
  t.equal(message.batchKey, 'tenant-1')
  t.equal(message.batchMode, 'flush')
  t.equal(message.isFailed, false)
  t.end()
})

t.test('reasonLabel labels a failure reason by code, name or text', (t) => {
  t.equal(reasonLabel(new MissingFromBatchError()), 'SW_ERR_MISSING_FROM_BATCH', 'an error with a code')
  t.equal(reasonLabel(new TypeError('x')), 'TypeError', 'an error without a code')
  t.equal(reasonLabel(Object.assign(new Error('x'), { code: 42 })), 'Error', 'a non-string code is ignored')
  t.equal(reasonLabel('timeout'), 'timeout', 'a short string as is')
  t.equal(reasonLabel('a'.repeat(61)), `${'a'.repeat(60)}…`, 'a long string cut at 60 characters')
  t.equal(reasonLabel('a'.repeat(60)), 'a'.repeat(60), 'exactly 60 characters are kept')
  t.equal(reasonLabel(undefined), 'undefined')
  t.equal(reasonLabel(404), '404')
  t.equal(reasonLabel({ code: 'E' }), 'an object', 'a plain object is described, not trusted')
  t.end()
})
