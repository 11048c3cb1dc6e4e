/**
 * The log of one partition: the record batches as producers sent them, each a private copy whose
 * baseOffset field (outside the CRC, so the CRC stays valid) is overwritten with the offset the log
 * assigns. No record is decoded on the way in or out, so compressed batches cost nothing extra and
 * a Fetch answer is the stored buffers themselves.
 *
 * Memory: every batch ever appended, until the topic is deleted or the broker is dropped.
 */
import { decodeBatch, splitBatches } from './record-batch.js'

/** A stored batch: its bytes and the offsets it covers. */
export interface StoredBatch {
  readonly baseOffset: bigint
  readonly lastOffset: bigint
  readonly maxTimestamp: bigint
  readonly bytes: Buffer
}

/** What a read found: the batches (by reference) and their total size. */
export interface LogSlice {
  readonly buffers: Buffer[]
  readonly bytes: number
}

/** The batches and offsets of one partition. */
export class PartitionLog {
  /** Stored batches in offset order. */
  readonly batches: StoredBatch[] = []
  /** The offset the next record gets (the high watermark: everything is committed at once). */
  highWatermark = 0n
  /** The first offset still in the log; nothing is ever deleted, so always 0. */
  readonly logStartOffset = 0n

  /**
   * Appends the batches of a Produce's records field and returns the offset of the first record.
   * Throws a `KafkaTestBrokerError` (and stores nothing) if `records` is not whole v2 batches.
   */
  append(records: Buffer): bigint {
    const spans = splitBatches(records)
    // One copy for all the batches: `records` is a view of the socket's buffer.
    const owned = Buffer.from(records)
    const baseOffset = this.highWatermark
    for (const span of spans) {
      const bytes = owned.subarray(span.start, span.start + span.size)
      const first = this.highWatermark
      bytes.writeBigInt64BE(first, 0)
      const last = first + BigInt(span.lastOffsetDelta)
      this.batches.push({ baseOffset: first, lastOffset: last, maxTimestamp: span.maxTimestamp, bytes })
      this.highWatermark = last + 1n
    }
    return baseOffset
  }

  /** Index of the first batch holding an offset ≥ `offset` (`batches.length` if none). */
  private indexOf(offset: bigint): number {
    let low = 0
    let high = this.batches.length
    while (low < high) {
      const middle = (low + high) >>> 1
      const batch = this.batches[middle]
      if (batch !== undefined && batch.lastOffset < offset) low = middle + 1
      else high = middle
    }
    return low
  }

  /**
   * Whole batches from the one holding `offset`, while they fit in `maxBytes`; the first batch is
   * returned even when it alone is larger, when `firstAlways` (as Kafka does, so that a large batch
   * can never block a consumer).
   */
  read(offset: bigint, maxBytes: number, firstAlways: boolean): LogSlice {
    const buffers: Buffer[] = []
    let bytes = 0
    for (let i = this.indexOf(offset); i < this.batches.length; i++) {
      const batch = this.batches[i]
      if (batch === undefined) break
      const size = batch.bytes.length
      if (bytes + size > maxBytes && !(firstAlways && buffers.length === 0)) break
      buffers.push(batch.bytes)
      bytes += size
    }
    return { buffers, bytes }
  }

  /**
   * The first record with a timestamp ≥ `timestamp` (ListOffsets by time), or `undefined`. Batches are
   * skipped by their max timestamp; the one that may hold the record is decoded, unless its codec
   * cannot be (snappy, lz4, zstd): then its base offset answers.
   */
  offsetForTimestamp(timestamp: bigint): { offset: bigint; timestamp: bigint } | undefined {
    for (const batch of this.batches) {
      if (batch.maxTimestamp < timestamp) continue
      try {
        for (const record of decodeBatch(batch.bytes))
          if (BigInt(record.timestamp) >= timestamp)
            return { offset: record.offset, timestamp: BigInt(record.timestamp) }
      } catch {
        return { offset: batch.baseOffset, timestamp: batch.maxTimestamp }
      }
    }
    return undefined
  }
}
