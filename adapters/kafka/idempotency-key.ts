/**
 * `kafkaIdempotencyKey`: the idempotency key of a batch of Kafka messages, from where its records
 * are (topic, partition, offset). A redelivered record has the same coordinates, so a batch sent
 * again after a crash or a rebalance carries the same key when it holds the same records: a server
 * that remembers keys drops the duplicate.
 */
import { createHash } from 'node:crypto'
import type { Message } from '../../lib/message.js'
import type { KafkaMetadata } from './source.js'

/**
 * `topic-partition-first-last-count` for a batch of one partition (what `partitionBy` and a
 * per-partition batch key give), else a SHA-256 of every record's coordinates.
 * @example
 * httpSink({ url, idempotencyKey: kafkaIdempotencyKey })
 */
export function kafkaIdempotencyKey(messages: readonly Message[]): string {
  const first = messages[0]?.metadata as KafkaMetadata | undefined
  if (first === undefined) return 'empty'
  let onePartition = true
  for (const m of messages) {
    const meta = m.metadata as KafkaMetadata
    if (meta.partition !== first.partition || meta.topic !== first.topic) {
      onePartition = false
      break
    }
  }
  if (onePartition) {
    const last = messages[messages.length - 1]?.metadata as KafkaMetadata
    return `${first.topic}-${String(first.partition)}-${first.offset}-${last.offset}-${String(messages.length)}`
  }
  const hash = createHash('sha256')
  for (const m of messages) {
    const meta = m.metadata as KafkaMetadata
    hash.update(`${meta.topic}\0${String(meta.partition)}\0${meta.offset}\n`)
  }
  return hash.digest('base64url')
}
