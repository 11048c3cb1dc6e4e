import t from 'tap'
import { KafkaTestBrokerError } from '../../../lib/index.js'
import { Decoder, Encoder } from '../../../lib/testing/kafka-broker/codec.js'
import { KafkajsDecoder, KafkajsEncoder } from './fixtures.js'

t.test('primitives round-trip, big-endian, with INT64 as bigint', (t) => {
  const encoder = new Encoder(4) // grows well past its first buffer
    .writeInt8(-2)
    .writeBoolean(true)
    .writeInt16(-300)
    .writeInt32(2 ** 31 - 1)
    .writeInt64(-(2n ** 63n))
    .writeInt64(2n ** 53n + 1n)
    .writeString('héllo')
    .writeString(null)
    .writeBytes(Buffer.from([1, 2, 3]))
    .writeBytes(null)
  const buffer = encoder.toBuffer()
  t.equal(buffer.length, encoder.length)
  t.equal(buffer.readInt16BE(2), -300, 'big-endian')
  const d = new Decoder(buffer)
  t.equal(d.readInt8(), -2)
  t.equal(d.readBoolean(), true)
  t.equal(d.readInt16(), -300)
  t.equal(d.readInt32(), 2 ** 31 - 1)
  t.equal(d.readInt64(), -(2n ** 63n))
  t.equal(d.readInt64(), 2n ** 53n + 1n)
  t.equal(d.readString(), 'héllo')
  t.equal(d.readNullableString(), null)
  t.same([...d.readBytes()], [1, 2, 3])
  t.equal(d.readNullableBytes(), null)
  t.equal(d.remaining, 0)
  t.end()
})

t.test('arrays keep null apart from empty; readArray reads null as empty', (t) => {
  const buffer = new Encoder()
    .writeArray(null, () => undefined)
    .writeArray([], () => undefined)
    .writeInt32Array([7, -1])
    .writeArray(null, () => undefined)
    .writeArray(['a', 'b'], (e, s) => e.writeString(s))
    .toBuffer()
  const d = new Decoder(buffer)
  t.equal(
    d.readNullableArray((x) => x.readInt32()),
    null,
  )
  t.same(
    d.readNullableArray((x) => x.readInt32()),
    [],
  )
  t.same(d.readInt32Array(), [7, -1])
  t.same(
    d.readArray((x) => x.readInt32()),
    [],
  )
  t.same(
    d.readArray((x) => x.readString()),
    ['a', 'b'],
  )
  t.end()
})

t.test('a long bytes list is sent by reference, a short one is copied', (t) => {
  const big = Buffer.alloc(4096, 7)
  const small = Buffer.from('abc')
  const encoder = new Encoder().writeInt16(1).writeBytesList([big, small]).writeInt16(2)
  const chunks = encoder.chunks()
  t.ok(chunks.includes(big), 'the stored buffer itself is a chunk')
  const buffer = encoder.toBuffer()
  const d = new Decoder(buffer)
  t.equal(d.readInt16(), 1)
  t.equal(d.readBytes().length, 4099)
  t.equal(d.readInt16(), 2)
  const copied = new Encoder().writeBytesList([small, small])
  t.notOk(copied.chunks().includes(small))
  t.equal(new Decoder(copied.toBuffer()).readBytes().toString(), 'abcabc')
  t.end()
})

t.test('reading past the end or an impossible count throws a KafkaTestBrokerError', (t) => {
  t.throws(() => new Decoder(Buffer.alloc(3)).readInt32(), KafkaTestBrokerError)
  t.throws(() => new Decoder(Buffer.from([0, 5, 65])).readString(), KafkaTestBrokerError)
  const count = Buffer.alloc(4)
  count.writeInt32BE(1_000_000)
  t.throws(() => new Decoder(count).readArray((d) => d.readInt8()), KafkaTestBrokerError)
  t.throws(
    () => new Decoder(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01])).readVarInt(),
    KafkaTestBrokerError,
  )
  t.end()
})

t.test('what kafkajs encodes, the decoder reads: varints, varlongs, int64, nullable fields', (t) => {
  const ints = [0, 1, -1, 63, -64, 64, 300, -300, 2 ** 31 - 1, -(2 ** 31)]
  const longs = [0n, -1n, 2n ** 40n, -(2n ** 50n), 2n ** 62n]
  const e = new KafkajsEncoder()
  for (const n of ints) e.writeVarInt(n)
  for (const n of longs) e.writeVarLong(n)
  e.writeVarIntBytes(null)
    .writeVarIntBytes(Buffer.from('xy'))
    .writeInt64('-5')
    .writeString(null)
    .writeBytes(null)
  const d = new Decoder(e.buffer)
  t.same(
    ints.map(() => d.readVarInt()),
    ints,
  )
  t.same(
    longs.map(() => d.readVarLong()),
    longs,
  )
  t.equal(d.readVarIntBytes(), null)
  t.equal(d.readVarIntBytes()?.toString(), 'xy')
  t.equal(d.readInt64(), -5n)
  t.equal(d.readNullableString(), null)
  t.equal(d.readNullableBytes(), null)
  t.end()
})

t.test('what the encoder writes, kafkajs reads', (t) => {
  const buffer = new Encoder()
    .writeInt16(-7)
    .writeInt64(2n ** 60n)
    .writeString('ünïcode')
    .writeString(null)
    .writeBytes(Buffer.from('b'))
    .writeArray([3, 4], (e, n) => e.writeInt32(n))
    .toBuffer()
  const d = new KafkajsDecoder(buffer)
  t.equal(d.readInt16(), -7)
  t.equal(String(d.readInt64()), String(2n ** 60n))
  t.equal(d.readString(), 'ünïcode')
  t.equal(d.readString(), null)
  t.equal(d.readBytes()?.toString(), 'b')
  t.same(
    d.readArray((x) => x.readInt32()),
    [3, 4],
  )
  t.end()
})
