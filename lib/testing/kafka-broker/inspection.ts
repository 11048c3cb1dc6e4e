/**
 * What the broker's assertion methods return: decoded records (`records()`) and a group's state
 * (`groupState()`). Built on demand from the stored state, never on the request path.
 */
import type { Group, GroupStateName } from './group.js'
import { decodeMemberAssignment } from './member-assignment.js'
import type { PartitionLog } from './partition-log.js'
import { decodeBatch, type RecordHeader } from './record-batch.js'

/** A stored record, decoded. */
export interface BrokerRecord {
  readonly topic: string
  readonly partition: number
  /** Offset in its partition. */
  readonly offset: bigint
  /** Milliseconds since the epoch, as the producer set it. */
  readonly timestamp: number
  readonly key: Buffer | null
  readonly value: Buffer | null
  /** In the order the producer wrote them; a key may repeat. */
  readonly headers: readonly RecordHeader[]
}

/** A member of a group, as `groupState()` reports it. */
export interface BrokerGroupMember {
  readonly memberId: string
  readonly clientId: string
  /** The member's peer address (`/127.0.0.1`). */
  readonly clientHost: string
  readonly sessionTimeoutMs: number
  readonly rebalanceTimeoutMs: number
  /** Its partitions by topic, read from the consumer-protocol assignment; `undefined` before the group is Stable or when the bytes are in another format. */
  readonly assignment: Readonly<Record<string, readonly number[]>> | undefined
  /** The assignment as the leader sent it. */
  readonly assignmentBytes: Buffer
}

/** A group's state, as `groupState()` reports it. */
export interface BrokerGroupState {
  readonly groupId: string
  readonly state: GroupStateName
  /** +1 at every completed rebalance. */
  readonly generationId: number
  readonly protocolType: string | null
  /** The assignor chosen at the last join (e.g. `RoundRobinAssigner`). */
  readonly protocol: string | null
  readonly leaderId: string | null
  readonly members: readonly BrokerGroupMember[]
}

/** The records of `logs` (all partitions, or only `partition`), in partition then offset order. */
export function recordsOf(topic: string, logs: readonly PartitionLog[], partition?: number): BrokerRecord[] {
  const records: BrokerRecord[] = []
  logs.forEach((log, index) => {
    if (partition !== undefined && index !== partition) return
    for (const batch of log.batches)
      for (const record of decodeBatch(batch.bytes)) records.push({ topic, partition: index, ...record })
  })
  return records
}

/** A snapshot of `group`. */
export function describeGroup(group: Group): BrokerGroupState {
  const stable = group.state === 'Stable'
  return {
    groupId: group.id,
    state: group.state,
    generationId: group.generationId,
    protocolType: group.protocolType,
    protocol: group.protocolName,
    leaderId: group.leaderId,
    members: [...group.members.values()].map((m) => ({
      memberId: m.id,
      clientId: m.clientId,
      clientHost: m.clientHost,
      sessionTimeoutMs: m.sessionTimeoutMs,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      assignment: stable ? decodeMemberAssignment(m.assignment) : undefined,
      assignmentBytes: Buffer.from(m.assignment),
    })),
  }
}
