import t from 'tap'
import { Readable } from 'node:stream'
import { Message } from '../../lib/message.js'
import { ChunkRouter } from '../../lib/pipeline/chunk-router.js'
import { settle } from '../helpers.js'

function messages(data: number[]): Message<number>[] {
  return data.map((d) => new Message(d))
}

function drain(lane: Readable): Message<number>[][] {
  const got: Message<number>[][] = []
  let chunk: unknown
  while ((chunk = lane.read()) !== null) got.push(chunk as Message<number>[])
  return got
}

t.test(
  'splits an array by lane, keeping each lane in input order, and passes a one-lane array whole',
  (t) => {
    const router = new ChunkRouter(3, 4, (m) => (m.data as number) % 3)
    const mixed = messages([0, 1, 2, 3, 4, 5, 6])
    const single = messages([9, 12])
    router.write(mixed)
    router.write(single)
    const lanes = router.lanes.map((lane) => drain(lane).map((chunk) => chunk.map((m) => m.data)))
    t.same(lanes, [
      [
        [0, 3, 6],
        [9, 12],
      ],
      [[1, 4]],
      [[2, 5]],
    ])
    t.equal(router.lanes[0]?.readableLength, 0)
    t.end()
  },
)

t.test('holds a write until every lane it filled has been read below its high-water mark', async (t) => {
  const router = new ChunkRouter(2, 1, (m) => (m.data as number) % 2)
  let released = 0
  router.write(messages([0, 1]), () => released++) // fills both lanes (highWaterMark 1)
  router.write(messages([2]), () => released++)
  await settle()
  t.equal(released, 0, 'the first write is held: both lanes are full')
  router.lanes[0]?.read()
  await settle()
  t.equal(released, 0, 'still held: lane 1 is full')
  router.lanes[1]?.read()
  await settle()
  t.equal(released, 1, 'released once both lanes were read; the next write fills lane 0 again')
  t.end()
})
