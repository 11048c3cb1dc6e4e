/**
 * Fetch v11: whole stored batches from the one holding the fetch offset (kafkajs and other clients
 * drop the records before it), by reference, within `partition_max_bytes` and `max_bytes`, except
 * that the first batch found is always sent, so a batch larger than the limits cannot stall a
 * consumer. When nothing is there, the fetch waits for a produce, and answers a little before
 * `max_wait_ms` when none comes: kafkajs gives up on a fetch at `max_wait_ms` + 100 ms, and timers
 * fire late on a busy machine. No fetch sessions (session id 0), no read replicas (−1).
 */
import { Encoder, type Decoder } from '../codec.js'
import { kafkaErrorCodes as E } from '../protocol.js'
import type { ApiHandler, BrokerState } from './api.js'

/** How much sooner than `max_wait_ms` an empty fetch is answered. */
const ANSWER_EARLY_MS = 20

/** One partition of a Fetch v11 request. */
export interface FetchPartition {
  readonly partition: number
  readonly currentLeaderEpoch: number
  readonly fetchOffset: bigint
  readonly logStartOffset: bigint
  readonly partitionMaxBytes: number
}

/** A Fetch v11 request. */
export interface FetchRequest {
  readonly replicaId: number
  readonly maxWaitMs: number
  readonly minBytes: number
  readonly maxBytes: number
  readonly isolationLevel: number
  readonly sessionId: number
  readonly sessionEpoch: number
  readonly topics: readonly { name: string; partitions: readonly FetchPartition[] }[]
  readonly forgottenTopics: readonly { name: string; partitions: number[] }[]
  readonly rackId: string
}

interface PartitionData {
  readonly partition: number
  readonly errorCode: number
  readonly highWatermark: bigint
  readonly logStartOffset: bigint
  readonly buffers: Buffer[]
}

interface Collected {
  readonly topics: { name: string; partitions: PartitionData[] }[]
  readonly bytes: number
  readonly errors: boolean
}

function collect(request: FetchRequest, broker: BrokerState): Collected {
  let bytes = 0
  let errors = false
  const topics = request.topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map((p): PartitionData => {
      const log = broker.topics.partition(topic.name, p.partition)
      const failed = (errorCode: number, hw = -1n, start = -1n): PartitionData => {
        errors = true
        return { partition: p.partition, errorCode, highWatermark: hw, logStartOffset: start, buffers: [] }
      }
      if (log === undefined) return failed(E.UNKNOWN_TOPIC_OR_PARTITION)
      if (p.fetchOffset > log.highWatermark || p.fetchOffset < log.logStartOffset)
        return failed(E.OFFSET_OUT_OF_RANGE, log.highWatermark, log.logStartOffset)
      const room = Math.max(0, Math.min(p.partitionMaxBytes, request.maxBytes - bytes))
      const slice = log.read(p.fetchOffset, room, bytes === 0)
      bytes += slice.bytes
      return {
        partition: p.partition,
        errorCode: 0,
        highWatermark: log.highWatermark,
        logStartOffset: log.logStartOffset,
        buffers: slice.buffers,
      }
    }),
  }))
  return { topics, bytes, errors }
}

function answer(topics: Collected['topics']): Encoder {
  return new Encoder()
    .writeInt32(0)
    .writeInt16(0)
    .writeInt32(0) // session_id: no fetch sessions
    .writeArray(topics, (e, topic) =>
      e.writeString(topic.name).writeArray(topic.partitions, (p, data) =>
        p
          .writeInt32(data.partition)
          .writeInt16(data.errorCode)
          .writeInt64(data.highWatermark)
          .writeInt64(data.highWatermark) // last_stable_offset: no transactions, so the high watermark
          .writeInt64(data.logStartOffset)
          .writeArray([], () => undefined) // aborted_transactions
          .writeInt32(-1) // preferred_read_replica: another id would send kafkajs to that node
          .writeBytesList(data.buffers),
      ),
    )
}

/** Fetch v11. */
export const fetchApi: ApiHandler<FetchRequest> = {
  name: 'Fetch',
  decode: (d: Decoder) => ({
    replicaId: d.readInt32(),
    maxWaitMs: d.readInt32(),
    minBytes: d.readInt32(),
    maxBytes: d.readInt32(),
    isolationLevel: d.readInt8(),
    sessionId: d.readInt32(),
    sessionEpoch: d.readInt32(),
    topics: d.readArray((t) => ({
      name: t.readString(),
      partitions: t.readArray((p) => ({
        partition: p.readInt32(),
        currentLeaderEpoch: p.readInt32(),
        fetchOffset: p.readInt64(),
        logStartOffset: p.readInt64(),
        partitionMaxBytes: p.readInt32(),
      })),
    })),
    forgottenTopics: d.readArray((t) => ({ name: t.readString(), partitions: t.readInt32Array() })),
    rackId: d.readString(),
  }),
  handle: async (request, { broker, connection }) => {
    const deadline = Date.now() + request.maxWaitMs - ANSWER_EARLY_MS
    for (;;) {
      const collected = collect(request, broker)
      const enough = collected.bytes > 0 && collected.bytes >= request.minBytes
      const remaining = deadline - Date.now()
      if (
        enough ||
        collected.errors ||
        request.minBytes <= 0 ||
        remaining <= 0 ||
        connection.signal.aborted ||
        broker.topics.closed
      )
        return answer(collected.topics)
      await broker.topics.waitForAppend(remaining, connection.signal)
    }
  },
  fail: (request, errorCode) =>
    answer(
      request.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map((p) => ({
          partition: p.partition,
          errorCode,
          highWatermark: -1n,
          logStartOffset: -1n,
          buffers: [],
        })),
      })),
    ),
}
