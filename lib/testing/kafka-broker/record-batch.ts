/**
 * RecordBatch v2 (magic 2), the format Produce carries and Fetch returns. The log keeps batches
 * opaque: `splitBatches` reads only their headers. `decodeBatch` reads the records, for the test
 * assertions (`KafkaTestBroker.records`) and for ListOffsets by timestamp, never on the
 * produce/fetch path.
 *
 * Byte offsets inside a batch: 0 baseOffset INT64 | 8 batchLength INT32 | 12 partitionLeaderEpoch |
 * 16 magic INT8 | 17 crc | 21 attributes INT16 | 23 lastOffsetDelta INT32 | 27 firstTimestamp INT64 |
 * 35 maxTimestamp INT64 | 43 producerId | 51 producerEpoch | 53 baseSequence | 57 recordCount INT32 |
 * 61 records.
 */
import { gunzipSync } from 'node:zlib'
import { KafkaTestBrokerError } from '../../errors.js'
import { Decoder } from './codec.js'

const MAGIC = 16
const ATTRIBUTES = 21
const LAST_OFFSET_DELTA = 23
const FIRST_TIMESTAMP = 27
const MAX_TIMESTAMP = 35
const RECORD_COUNT = 57
/** Size of a batch's header: the bytes before its first record. */
export const BATCH_HEADER_SIZE = 61

const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const

/** Where a batch lies in a Produce's records field and what the log needs of its header. */
export interface BatchSpan {
  readonly start: number
  readonly size: number
  readonly lastOffsetDelta: number
  readonly maxTimestamp: bigint
}

/**
 * The batches of a Produce's records field, headers checked (magic 2, lengths inside the buffer).
 * Throws a `KafkaTestBrokerError` if the field is not a sequence of whole v2 batches (e.g. a legacy
 * MessageSet), so the partition answers CORRUPT_MESSAGE.
 */
export function splitBatches(records: Buffer): BatchSpan[] {
  const spans: BatchSpan[] = []
  let start = 0
  while (start < records.length) {
    if (records.length - start < BATCH_HEADER_SIZE)
      throw new KafkaTestBrokerError('Malformed record batch: shorter than its header')
    const size = 12 + records.readInt32BE(start + 8)
    if (size < BATCH_HEADER_SIZE || start + size > records.length)
      throw new KafkaTestBrokerError(`Malformed record batch: length ${String(size)} out of bounds`)
    const magic = records.readInt8(start + MAGIC)
    if (magic !== 2)
      throw new KafkaTestBrokerError(`Unsupported record format: magic ${String(magic)} (only 2 is stored)`)
    const lastOffsetDelta = records.readInt32BE(start + LAST_OFFSET_DELTA)
    if (lastOffsetDelta < 0) throw new KafkaTestBrokerError('Malformed record batch: no record')
    spans.push({
      start,
      size,
      lastOffsetDelta,
      maxTimestamp: records.readBigInt64BE(start + MAX_TIMESTAMP),
    })
    start += size
  }
  if (spans.length === 0) throw new KafkaTestBrokerError('Malformed record batch: no batch')
  return spans
}

/** A record header: its key, and its value as bytes (or `null`). */
export interface RecordHeader {
  readonly key: string
  readonly value: Buffer | null
}

/** One record of a stored batch, decoded. */
export interface DecodedRecord {
  /** Offset in its partition. */
  readonly offset: bigint
  /** Milliseconds since the epoch (the producer's create time, or the log append time). */
  readonly timestamp: number
  readonly key: Buffer | null
  readonly value: Buffer | null
  /** In the order of the batch; a key may repeat. */
  readonly headers: readonly RecordHeader[]
}

/**
 * The records of one stored batch (a control batch, which carries transaction markers, has none).
 * Keys, values and header values are copies. Uncompressed and gzip batches only: any other codec
 * throws a `KafkaTestBrokerError`, since Node has no decoder for them built in.
 */
export function decodeBatch(batch: Buffer): DecodedRecord[] {
  const attributes = batch.readInt16BE(ATTRIBUTES)
  if ((attributes & 0x20) !== 0) return [] // control batch
  const codec = attributes & 0x07
  const logAppendTime = (attributes & 0x08) !== 0
  const baseOffset = batch.readBigInt64BE(0)
  const firstTimestamp = batch.readBigInt64BE(FIRST_TIMESTAMP)
  const maxTimestamp = batch.readBigInt64BE(MAX_TIMESTAMP)
  const count = batch.readInt32BE(RECORD_COUNT)
  let body = batch.subarray(BATCH_HEADER_SIZE)
  if (codec === 1) body = gunzipSync(body)
  else if (codec !== 0)
    throw new KafkaTestBrokerError(
      `A record batch compressed with ${CODECS[codec] ?? `codec ${String(codec)}`} cannot be decoded; only uncompressed and gzip batches can`,
    )
  const decoder = new Decoder(body)
  const records: DecodedRecord[] = []
  for (let i = 0; i < count; i++) {
    const length = decoder.readVarInt()
    const record = new Decoder(body, decoder.offset)
    decoder.skip(length)
    record.readInt8() // attributes: unused since magic 2
    const timestampDelta = record.readVarLong()
    const offsetDelta = record.readVarInt()
    const key = copy(record.readVarIntBytes())
    const value = copy(record.readVarIntBytes())
    const headerCount = record.readVarInt()
    const headers: RecordHeader[] = []
    for (let h = 0; h < headerCount; h++) {
      const headerKey = record.readVarIntBytes()
      headers.push({ key: headerKey?.toString('utf8') ?? '', value: copy(record.readVarIntBytes()) })
    }
    records.push({
      offset: baseOffset + BigInt(offsetDelta),
      timestamp: Number(logAppendTime ? maxTimestamp : firstTimestamp + timestampDelta),
      key,
      value,
      headers,
    })
  }
  return records
}

function copy(bytes: Buffer | null): Buffer | null {
  return bytes === null ? null : Buffer.from(bytes)
}
