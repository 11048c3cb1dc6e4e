/**
 * ListOffsets v3: −2 → the log start offset, −1 → the high watermark, any other timestamp → the
 * first record at or after it (−1 when there is none; kafkajs then uses the high watermark).
 */
import { Encoder, type Decoder } from '../codec.js'
import { kafkaErrorCodes as E } from '../protocol.js'
import type { ApiHandler, BrokerState } from './api.js'

const LATEST = -1n
const EARLIEST = -2n

/** A ListOffsets v3 request. */
export interface ListOffsetsRequest {
  readonly replicaId: number
  readonly isolationLevel: number
  readonly topics: readonly {
    name: string
    partitions: readonly { partition: number; timestamp: bigint }[]
  }[]
}

interface Found {
  readonly partition: number
  readonly errorCode: number
  readonly timestamp: bigint
  readonly offset: bigint
}

function answer(topics: readonly { name: string; partitions: readonly Found[] }[]): Encoder {
  return new Encoder()
    .writeInt32(0)
    .writeArray(topics, (e, topic) =>
      e
        .writeString(topic.name)
        .writeArray(topic.partitions, (p, f) =>
          p.writeInt32(f.partition).writeInt16(f.errorCode).writeInt64(f.timestamp).writeInt64(f.offset),
        ),
    )
}

function find(broker: BrokerState, topic: string, partition: number, timestamp: bigint): Found {
  const log = broker.topics.partition(topic, partition)
  if (log === undefined)
    return { partition, errorCode: E.UNKNOWN_TOPIC_OR_PARTITION, timestamp: -1n, offset: -1n }
  if (timestamp === LATEST) return { partition, errorCode: 0, timestamp: -1n, offset: log.highWatermark }
  if (timestamp === EARLIEST) return { partition, errorCode: 0, timestamp: -1n, offset: log.logStartOffset }
  const found = log.offsetForTimestamp(timestamp)
  return { partition, errorCode: 0, timestamp: found?.timestamp ?? -1n, offset: found?.offset ?? -1n }
}

/** ListOffsets v3. */
export const listOffsetsApi: ApiHandler<ListOffsetsRequest> = {
  name: 'ListOffsets',
  decode: (d: Decoder) => ({
    replicaId: d.readInt32(),
    isolationLevel: d.readInt8(),
    topics: d.readArray((t) => ({
      name: t.readString(),
      partitions: t.readArray((p) => ({ partition: p.readInt32(), timestamp: p.readInt64() })),
    })),
  }),
  handle: (request, { broker }) =>
    answer(
      request.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map((p) => find(broker, topic.name, p.partition, p.timestamp)),
      })),
    ),
  fail: (request, errorCode) =>
    answer(
      request.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map((p) => ({
          partition: p.partition,
          errorCode,
          timestamp: -1n,
          offset: -1n,
        })),
      })),
    ),
}
