/**
 * The consumer protocol's assignment format (Kafka's ConsumerProtocol, which kafkajs'
 * `AssignerProtocol.MemberAssignment` writes): version INT16, [topic STRING, [partition INT32]],
 * user_data BYTES. The broker never needs it; `groupState()` decodes it so tests can read who owns
 * which partitions.
 */
import { Decoder } from './codec.js'

/** Partitions by topic, or `undefined` when `bytes` are empty or not in the consumer protocol's format. */
export function decodeMemberAssignment(bytes: Buffer): Record<string, number[]> | undefined {
  if (bytes.length === 0) return undefined
  try {
    const decoder = new Decoder(bytes)
    decoder.readInt16()
    const assignment: Record<string, number[]> = {}
    for (const { topic, partitions } of decoder.readArray((d) => ({
      topic: d.readString(),
      partitions: d.readInt32Array(),
    })))
      assignment[topic] = [...(assignment[topic] ?? []), ...partitions].sort((a, b) => a - b)
    decoder.readNullableBytes()
    return assignment
  } catch {
    return undefined
  }
}
