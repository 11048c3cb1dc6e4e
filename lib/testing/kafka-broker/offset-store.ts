/**
 * Committed offsets, by group, topic and partition. They live apart from group membership, as in
 * Kafka: a group's offsets outlive its members, and a standalone commit (generation −1) needs no
 * member. They go with the topic when it is deleted.
 */

/** A committed offset and the metadata string committed with it. */
export interface CommittedOffset {
  readonly offset: bigint
  readonly metadata: string | null
}

/** Offsets of every group. */
export class OffsetStore {
  private readonly groups = new Map<string, Map<string, Map<number, CommittedOffset>>>()

  commit(group: string, topic: string, partition: number, committed: CommittedOffset): void {
    let topics = this.groups.get(group)
    if (topics === undefined)
      this.groups.set(group, (topics = new Map<string, Map<number, CommittedOffset>>()))
    let partitions = topics.get(topic)
    if (partitions === undefined) topics.set(topic, (partitions = new Map<number, CommittedOffset>()))
    partitions.set(partition, committed)
  }

  /** The committed offset, or `undefined` if none was. */
  get(group: string, topic: string, partition: number): CommittedOffset | undefined {
    return this.groups.get(group)?.get(topic)?.get(partition)
  }

  /** Every committed offset of `group`, by topic (sorted) and partition (ascending). */
  ofGroup(group: string): Map<string, Map<number, CommittedOffset>> {
    const result = new Map<string, Map<number, CommittedOffset>>()
    const topics = this.groups.get(group)
    if (topics === undefined) return result
    for (const topic of [...topics.keys()].sort()) {
      const partitions = topics.get(topic) ?? new Map<number, CommittedOffset>()
      result.set(topic, new Map([...partitions].sort(([a], [b]) => a - b)))
    }
    return result
  }

  /** Whether `group` has any committed offset. */
  hasGroup(group: string): boolean {
    return this.groups.has(group)
  }

  /** Forgets every offset committed for `topic` (the topic was deleted). */
  deleteTopic(topic: string): void {
    for (const topics of this.groups.values()) topics.delete(topic)
  }
}
