import t from 'tap'
import { KafkaTestBrokerError } from '../../../lib/index.js'
import { PartitionLog } from '../../../lib/testing/kafka-broker/partition-log.js'
import { decodeBatch, splitBatches } from '../../../lib/testing/kafka-broker/record-batch.js'
import { recordBatch } from './fixtures.js'

t.test('decodeBatch reads offsets, timestamps, keys, values and repeated headers', async (t) => {
  const batch = await recordBatch(
    [
      { key: 'k', value: 'v', headers: { h: ['1', '2'], other: 'x' } },
      { key: null, value: null, timestampDelta: 25 },
    ],
    { firstTimestamp: 5000 },
  )
  batch.writeBigInt64BE(40n, 0)
  const records = decodeBatch(batch)
  t.same(
    records.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null]),
    [
      [40n, 5000, 'k', 'v'],
      [41n, 5025, null, null],
    ],
  )
  t.same(
    records[0]?.headers.map((h) => [h.key, h.value?.toString()]),
    [
      ['h', '1'],
      ['h', '2'],
      ['other', 'x'],
    ],
  )
  records[0]?.value?.fill(0)
  t.equal(decodeBatch(batch)[0]?.value?.toString(), 'v', 'values are copies')
})

t.test('decodeBatch inflates gzip, refuses other codecs by name, and skips control batches', async (t) => {
  const gzip = await recordBatch([{ value: 'zipped' }, { value: 'twice' }], { compression: 1 })
  t.same(
    decodeBatch(gzip).map((r) => r.value?.toString()),
    ['zipped', 'twice'],
  )
  const snappy = Buffer.from(gzip)
  snappy.writeInt16BE(2, 21)
  t.throws(() => decodeBatch(snappy), { name: 'KafkaTestBrokerError', message: /snappy/ })
  const control = await recordBatch([{ value: 'marker' }])
  control.writeInt16BE(0x20, 21)
  t.same(decodeBatch(control), [])
})

t.test('splitBatches finds each batch and refuses what is not whole v2 batches', async (t) => {
  const one = await recordBatch([{ value: 'a' }, { value: 'b' }])
  const two = await recordBatch([{ value: 'c' }])
  const spans = splitBatches(Buffer.concat([one, two]))
  t.same(
    spans.map((s) => [s.start, s.size, s.lastOffsetDelta]),
    [
      [0, one.length, 1],
      [one.length, two.length, 0],
    ],
  )
  t.throws(() => splitBatches(Buffer.alloc(0)), KafkaTestBrokerError)
  t.throws(() => splitBatches(one.subarray(0, one.length - 1)), KafkaTestBrokerError)
  const empty = Buffer.from(one)
  empty.writeInt32BE(-1, 23)
  t.throws(() => splitBatches(empty), { message: /no record/ })
  const legacy = Buffer.from(one)
  legacy.writeInt8(1, 16)
  t.throws(() => splitBatches(legacy), { message: /magic 1/ })
})

t.test(
  'the log assigns offsets to a copy of the batches and reads whole batches from an offset',
  async (t) => {
    const log = new PartitionLog()
    const first = Buffer.concat([
      await recordBatch([{ value: 'a' }, { value: 'b' }]),
      await recordBatch([{ value: 'c' }]),
    ])
    t.equal(log.append(first), 0n)
    first.fill(0)
    t.equal(log.append(await recordBatch([{ value: 'd' }, { value: 'e' }, { value: 'f' }])), 3n)
    t.equal(log.highWatermark, 6n)
    t.same(
      log.batches.map((b) => [b.baseOffset, b.lastOffset]),
      [
        [0n, 1n],
        [2n, 2n],
        [3n, 5n],
      ],
    )
    t.same(
      log.batches.flatMap((b) => decodeBatch(b.bytes).map((r) => [r.offset, r.value?.toString()])),
      [
        [0n, 'a'],
        [1n, 'b'],
        [2n, 'c'],
        [3n, 'd'],
        [4n, 'e'],
        [5n, 'f'],
      ],
      'stored copies, unaffected by the request buffer',
    )
    const size = (i: number): number => log.batches[i]?.bytes.length ?? 0
    const from = (offset: bigint, maxBytes: number, firstAlways = true) =>
      log.read(offset, maxBytes, firstAlways).buffers
    t.equal(from(4n, 1 << 20)[0], log.batches[2]?.bytes, 'the batch holding the offset, by reference')
    t.equal(from(1n, 1 << 20).length, 3)
    t.equal(from(1n, size(0) + size(1)).length, 2)
    t.equal(from(0n, 1).length, 1, 'the first batch even over the limit')
    t.equal(from(0n, 1, false).length, 0)
    t.equal(from(6n, 1 << 20).length, 0, 'nothing at the high watermark')
    t.throws(() => log.append(Buffer.alloc(70)))
    t.equal(log.highWatermark, 6n, 'a refused append stores nothing')
  },
)

t.test('the log finds the first record at or after a timestamp', async (t) => {
  const log = new PartitionLog()
  log.append(
    await recordBatch([{ value: 'a' }, { value: 'b', timestampDelta: 100 }], { firstTimestamp: 1000 }),
  )
  log.append(await recordBatch([{ value: 'c' }], { firstTimestamp: 2000 }))
  t.same(log.offsetForTimestamp(0n), { offset: 0n, timestamp: 1000n })
  t.same(log.offsetForTimestamp(1050n), { offset: 1n, timestamp: 1100n })
  t.same(log.offsetForTimestamp(1500n), { offset: 2n, timestamp: 2000n })
  t.equal(log.offsetForTimestamp(3000n), undefined)
})
