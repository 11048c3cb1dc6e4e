/**
 * The primitive types of the Kafka protocol (non-flexible versions only: no compact strings, no
 * tagged fields), big-endian, INT64 as bigint. The broker has its own codec rather than kafkajs'
 * internals so that it depends on no client's private modules and works with any Kafka client.
 *
 * `Encoder` keeps large byte fields by reference (`writeBytesList`): a Fetch answer hands the stored
 * record batches to the socket without copying them. `Decoder.readBytes` returns a view of the
 * request: copy what is kept after the request is handled.
 */
import { KafkaTestBrokerError } from '../../errors.js'

/** Writes a protocol message into growing buffers; `chunks()` is what goes on the wire. */
export class Encoder {
  private buffer: Buffer
  private position = 0
  private readonly done: Buffer[] = []
  private doneLength = 0

  constructor(initialSize = 256) {
    this.buffer = Buffer.allocUnsafe(initialSize)
  }

  /** Bytes written so far. */
  get length(): number {
    return this.doneLength + this.position
  }

  private reserve(bytes: number): void {
    if (this.position + bytes <= this.buffer.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.position + bytes))
    this.buffer.copy(grown, 0, 0, this.position)
    this.buffer = grown
  }

  writeInt8(value: number): this {
    this.reserve(1)
    this.position = this.buffer.writeInt8(value, this.position)
    return this
  }

  writeBoolean(value: boolean): this {
    return this.writeInt8(value ? 1 : 0)
  }

  writeInt16(value: number): this {
    this.reserve(2)
    this.position = this.buffer.writeInt16BE(value, this.position)
    return this
  }

  writeInt32(value: number): this {
    this.reserve(4)
    this.position = this.buffer.writeInt32BE(value, this.position)
    return this
  }

  writeInt64(value: bigint): this {
    this.reserve(8)
    this.position = this.buffer.writeBigInt64BE(value, this.position)
    return this
  }

  /** A STRING; `null` is written as length −1 (a nullable string). */
  writeString(value: string | null): this {
    if (value === null) return this.writeInt16(-1)
    const bytes = Buffer.byteLength(value, 'utf8')
    this.writeInt16(bytes)
    this.reserve(bytes)
    this.position += this.buffer.write(value, this.position, 'utf8')
    return this
  }

  /** BYTES, copied; `null` is written as length −1. */
  writeBytes(value: Buffer | null): this {
    if (value === null) return this.writeInt32(-1)
    this.writeInt32(value.length)
    this.reserve(value.length)
    this.position += value.copy(this.buffer, this.position)
    return this
  }

  /** One BYTES field made of `buffers`, which are not copied: they must not change until sent. */
  writeBytesList(buffers: readonly Buffer[]): this {
    let total = 0
    for (const buffer of buffers) total += buffer.length
    this.writeInt32(total)
    if (total < 512) {
      for (const buffer of buffers) {
        this.reserve(buffer.length)
        this.position += buffer.copy(this.buffer, this.position)
      }
      return this
    }
    this.seal()
    for (const buffer of buffers) this.done.push(buffer)
    this.doneLength += total
    return this
  }

  /** An ARRAY: the count, then `write` for each item. `null` is written as count −1. */
  writeArray<T>(items: readonly T[] | null, write: (encoder: this, item: T) => void): this {
    if (items === null) return this.writeInt32(-1)
    this.writeInt32(items.length)
    for (const item of items) write(this, item)
    return this
  }

  /** An ARRAY of INT32. */
  writeInt32Array(items: readonly number[]): this {
    return this.writeArray(items, (encoder, item) => encoder.writeInt32(item))
  }

  private seal(): void {
    if (this.position === 0) return
    this.done.push(this.buffer.subarray(0, this.position))
    this.doneLength += this.position
    this.buffer = Buffer.allocUnsafe(Math.max(256, this.buffer.length - this.position))
    this.position = 0
  }

  /** What was written, as a list of buffers (stored record batches are in it by reference). */
  chunks(): Buffer[] {
    this.seal()
    return [...this.done]
  }

  /** What was written, as one buffer. */
  toBuffer(): Buffer {
    const chunks = this.chunks()
    return chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, this.length)
  }
}

/** Reads a protocol message; every read checks bounds and throws a `KafkaTestBrokerError` past the end. */
export class Decoder {
  private position: number

  constructor(
    private readonly buffer: Buffer,
    offset = 0,
  ) {
    this.position = offset
  }

  /** Where the next read starts. */
  get offset(): number {
    return this.position
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.buffer.length - this.position
  }

  private take(bytes: number): number {
    if (bytes < 0 || this.position + bytes > this.buffer.length)
      throw new KafkaTestBrokerError(
        `Malformed message: ${String(bytes)} bytes wanted at offset ${String(this.position)} of ${String(this.buffer.length)}`,
      )
    const at = this.position
    this.position += bytes
    return at
  }

  readInt8(): number {
    return this.buffer.readInt8(this.take(1))
  }

  readBoolean(): boolean {
    return this.readInt8() !== 0
  }

  readInt16(): number {
    return this.buffer.readInt16BE(this.take(2))
  }

  readInt32(): number {
    return this.buffer.readInt32BE(this.take(4))
  }

  readInt64(): bigint {
    return this.buffer.readBigInt64BE(this.take(8))
  }

  /** A nullable STRING (length −1 → `null`). */
  readNullableString(): string | null {
    const length = this.readInt16()
    if (length < 0) return null
    const at = this.take(length)
    return this.buffer.toString('utf8', at, at + length)
  }

  /** A STRING; a null one reads as `''`, since no field the broker reads this way gives null a meaning. */
  readString(): string {
    return this.readNullableString() ?? ''
  }

  /** Nullable BYTES as a view of the message (length −1 → `null`): copy it to keep it. */
  readNullableBytes(): Buffer | null {
    const length = this.readInt32()
    if (length < 0) return null
    const at = this.take(length)
    return this.buffer.subarray(at, at + length)
  }

  /** BYTES as a view of the message; a null one reads as empty. */
  readBytes(): Buffer {
    return this.readNullableBytes() ?? Buffer.alloc(0)
  }

  /** A nullable ARRAY (count −1 → `null`, which some requests use to mean "all"). */
  readNullableArray<T>(read: (decoder: this) => T): T[] | null {
    const count = this.readInt32()
    if (count < 0) return null
    // Each item takes at least one byte: a count beyond the bytes left is a malformed message.
    if (count > this.remaining) this.take(count)
    const items = new Array<T>(count)
    for (let i = 0; i < count; i++) items[i] = read(this)
    return items
  }

  /** An ARRAY; a null one reads as empty. */
  readArray<T>(read: (decoder: this) => T): T[] {
    return this.readNullableArray(read) ?? []
  }

  /** An ARRAY of INT32. */
  readInt32Array(): number[] {
    return this.readArray((decoder) => decoder.readInt32())
  }

  /** A zig-zag VARINT, as in record batches (at most 5 bytes). */
  readVarInt(): number {
    let value = 0
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.buffer.readUInt8(this.take(1))
      value |= (byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return (value >>> 1) ^ -(value & 1)
    }
    throw new KafkaTestBrokerError('Malformed message: a varint longer than 5 bytes')
  }

  /** A zig-zag VARLONG (at most 10 bytes). */
  readVarLong(): bigint {
    let value = 0n
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.buffer.readUInt8(this.take(1))
      value |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return (value >> 1n) ^ -(value & 1n)
    }
    throw new KafkaTestBrokerError('Malformed message: a varlong longer than 10 bytes')
  }

  /** Bytes with a VARINT length (−1 → `null`), as record keys, values and headers are; a view. */
  readVarIntBytes(): Buffer | null {
    const length = this.readVarInt()
    if (length < 0) return null
    const at = this.take(length)
    return this.buffer.subarray(at, at + length)
  }

  /** Moves past `bytes` bytes. */
  skip(bytes: number): void {
    this.take(bytes)
  }
}
