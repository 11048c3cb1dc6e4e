/**
 * OffsetCommit v5 and OffsetFetch v4. Whether a commit is allowed is the coordinator's call (see
 * `GroupCoordinator.commitError`); the offsets themselves live in the `OffsetStore`. OffsetFetch
 * answers −1 (no offset) for partitions never committed; a null topic list means every committed
 * topic of the group.
 */
import { Encoder, type Decoder } from '../codec.js'
import { kafkaErrorCodes as E } from '../protocol.js'
import type { ApiHandler } from './api.js'

/** An OffsetCommit v5 request. */
export interface OffsetCommitRequest {
  readonly groupId: string
  /** −1 with an empty member id: a commit by a client outside group management. */
  readonly generationId: number
  readonly memberId: string
  readonly topics: readonly {
    name: string
    partitions: readonly { partition: number; offset: bigint; metadata: string | null }[]
  }[]
}

/** An OffsetFetch v4 request. */
export interface OffsetFetchRequest {
  readonly groupId: string
  /** `null`: every topic the group committed offsets for. */
  readonly topics: readonly { name: string; partitions: number[] }[] | null
}

type Errors = readonly { name: string; partitions: readonly { partition: number; errorCode: number }[] }[]

function commitAnswer(topics: Errors): Encoder {
  return new Encoder()
    .writeInt32(0)
    .writeArray(topics, (e, topic) =>
      e
        .writeString(topic.name)
        .writeArray(topic.partitions, (p, r) => p.writeInt32(r.partition).writeInt16(r.errorCode)),
    )
}

function commitErrors(
  request: OffsetCommitRequest,
  errorCode: (topic: string, partition: number) => number,
): Errors {
  return request.topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map((p) => ({
      partition: p.partition,
      errorCode: errorCode(topic.name, p.partition),
    })),
  }))
}

/** OffsetCommit v5. */
export const offsetCommitApi: ApiHandler<OffsetCommitRequest> = {
  name: 'OffsetCommit',
  decode: (d: Decoder) => ({
    groupId: d.readString(),
    generationId: d.readInt32(),
    memberId: d.readString(),
    topics: d.readArray((t) => ({
      name: t.readString(),
      partitions: t.readArray((p) => ({
        partition: p.readInt32(),
        offset: p.readInt64(),
        metadata: p.readNullableString(),
      })),
    })),
  }),
  handle: (request, { broker }) => {
    const refused = broker.groups.commitError(request.groupId, request.generationId, request.memberId)
    if (refused !== 0) return commitAnswer(commitErrors(request, () => refused))
    const stored = new Map(request.topics.map((t) => [t.name, t.partitions]))
    return commitAnswer(
      commitErrors(request, (topic, partition) => {
        if (broker.topics.partition(topic, partition) === undefined) return E.UNKNOWN_TOPIC_OR_PARTITION
        const entry = stored.get(topic)?.find((p) => p.partition === partition)
        if (entry !== undefined)
          broker.offsets.commit(request.groupId, topic, partition, {
            offset: entry.offset,
            metadata: entry.metadata,
          })
        return 0
      }),
    )
  },
  fail: (request, errorCode) => commitAnswer(commitErrors(request, () => errorCode)),
}

interface Fetched {
  readonly name: string
  readonly partitions: readonly {
    partition: number
    offset: bigint
    metadata: string | null
    errorCode: number
  }[]
}

function fetchAnswer(topics: readonly Fetched[], errorCode: number): Encoder {
  return new Encoder()
    .writeInt32(0)
    .writeArray(topics, (e, topic) =>
      e
        .writeString(topic.name)
        .writeArray(topic.partitions, (p, r) =>
          p.writeInt32(r.partition).writeInt64(r.offset).writeString(r.metadata).writeInt16(r.errorCode),
        ),
    )
    .writeInt16(errorCode) // the top-level error_code comes last in OffsetFetch
}

/** OffsetFetch v4. */
export const offsetFetchApi: ApiHandler<OffsetFetchRequest> = {
  name: 'OffsetFetch',
  decode: (d: Decoder) => ({
    groupId: d.readString(),
    topics: d.readNullableArray((t) => ({ name: t.readString(), partitions: t.readInt32Array() })),
  }),
  handle: (request, { broker }) => {
    if (request.topics === null) {
      const all = [...broker.offsets.ofGroup(request.groupId)].map(([name, partitions]) => ({
        name,
        partitions: [...partitions].map(([partition, c]) => ({ partition, ...c, errorCode: 0 })),
      }))
      return fetchAnswer(all, 0)
    }
    const topics = request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((partition) => {
        const committed = broker.offsets.get(request.groupId, topic.name, partition)
        return {
          partition,
          offset: committed?.offset ?? -1n,
          metadata: committed?.metadata ?? null,
          errorCode: 0,
        }
      }),
    }))
    return fetchAnswer(topics, 0)
  },
  fail: (request, errorCode) =>
    fetchAnswer(
      (request.topics ?? []).map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map((partition) => ({
          partition,
          offset: -1n,
          metadata: null,
          errorCode,
        })),
      })),
      errorCode,
    ),
}
