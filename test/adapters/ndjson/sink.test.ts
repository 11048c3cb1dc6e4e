import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { pino } from 'pino'
import { Message, Pipeline } from '../../../lib/index.js'
import { ndjsonSink, ndjsonSource } from '../../../adapters/ndjson/index.js'
import { deadLetter } from '../../../adapters/file/index.js'

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'sw-ndjson-sink-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

const records = [{ id: 1, name: 'é' }, [1, 2], 'text', 42, null, { nested: { deep: true } }]

t.test('handleBatch round-trips data through a file, appending', async (t) => {
  const path = join(tempDir(t), 'out.ndjson')
  writeFileSync(path, '{"before":true}\n')
  const sink = ndjsonSink(path)
  const messages = records.map((r) => new Message(r))
  const returned = await sink.handleBatch('default', messages)
  t.equal(returned, messages, 'returns the messages it was given')
  t.equal(returned.filter((m) => m.isFailed).length, 0)
  await sink.handleBatch(messages.slice(0, 1)) // called with the messages alone, inside a handleBatch
  await sink.close()
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n')
  t.same(
    lines.map((l) => JSON.parse(l) as unknown),
    [{ before: true }, ...records, records[0]],
  )
  t.equal(sink.lines, records.length + 1)
})

t.test('a message whose data has no JSON form is marked failed; the others are written', async (t) => {
  const out = new PassThrough()
  const chunks: string[] = []
  out.on('data', (c: Buffer) => chunks.push(c.toString()))
  const sink = ndjsonSink(out)
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  const messages: Message[] = [
    new Message({ a: 1 }),
    new Message(10n),
    new Message(undefined),
    new Message(cyclic),
    new Message(2),
  ]
  await sink.handleBatch(messages)
  t.same(
    messages.map((m) => m.isFailed),
    [false, true, true, true, false],
  )
  await sink.close()
  t.equal(chunks.join(''), '{"a":1}\n2\n')
  t.notOk(out.writableEnded, 'a Writable given by the caller stays open')
})

t.test('bytes are JSON text: written as their line, not as a Buffer object', async (t) => {
  const out = new PassThrough()
  const chunks: string[] = []
  out.on('data', (c: Buffer) => chunks.push(c.toString()))
  const sink = ndjsonSink(out)
  await sink.handleBatch([new Message<unknown>(Buffer.from('{"id": 7}')), new Message<unknown>({ id: 8 })])
  await sink.close()
  t.equal(chunks.join(''), '{"id": 7}\n{"id":8}\n')
})

t.test('handleBatch honours backpressure: it waits for drain', async (t) => {
  const released: (() => void)[] = []
  const slow = new Writable({
    highWaterMark: 10,
    write(_chunk, _enc, callback) {
      released.push(callback)
    },
  })
  const sink = ndjsonSink(slow)
  let settled = false
  const pending = sink.handleBatch([new Message({ big: 'x'.repeat(100) })]).then(() => (settled = true))
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(settled, false, 'not resolved while the output is full')
  released.shift()!()
  await pending
  t.equal(settled, true, 'resolved on drain')
})

t.test('writable() takes data or messages in stream.pipeline and closes the file at the end', async (t) => {
  const path = join(tempDir(t), 'out.ndjson')
  const sink = ndjsonSink(path, { append: false })
  const items = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? { i } : new Message({ i })))
  await pipeline(Readable.from(items), sink.writable())
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n')
  t.equal(lines.length, 1000)
  t.same(JSON.parse(lines[999]!), { i: 999 })
  await t.rejects(sink.handleBatch([new Message(1)]), /closed/, 'closed once the writable ended')
})

t.test("'-' writes to stdout and never closes it", async (t) => {
  const sink = ndjsonSink('-')
  await sink.handleBatch([]) // nothing written
  await sink.close()
  t.notOk(process.stdout.writableEnded)
})

t.test(
  'a Pipeline reads an NDJSON file, dead-letters the bad line, and writes the rest to the NDJSON sink',
  async (t) => {
    const dir = tempDir(t)
    const input = join(dir, 'in.ndjson')
    const lines: string[] = []
    for (let i = 1; i <= 500; i++) lines.push(i === 250 ? '{"id": 250,' : JSON.stringify({ id: i }))
    writeFileSync(input, lines.join('\n') + '\n')
    const sink = ndjsonSink(join(dir, 'out.ndjson'))
    const dead = deadLetter(join(dir, 'dead.ndjson'))
    const source = ndjsonSource(input)
    const seen: unknown[] = []
    const p = new Pipeline<{ id: number }>({
      name: `ndjson-e2e-${process.pid}-${Date.now()}`,
      logger: pino({ level: 'silent' }),
      producer: { source },
      processors: { default: { concurrency: 2 } },
      batchers: { default: { batchSize: 50, batchTimeoutMs: 50 } },
      handleMessage(_, message) {
        seen.push(message.data)
        message.data = { id: message.data.id * 10 }
        return message
      },
      handleBatch: sink.handleBatch,
      handleFailed: dead.handleFailed,
    })
    await p.start()
    const report = await p.done
    await sink.close()
    await dead.close()
    t.equal(report.reason, 'ended')
    t.equal(report.successful, 499)
    t.equal(report.failed, 1)
    t.equal(seen.length, 499, 'handleMessage never saw the bad line')
    const out = readFileSync(join(dir, 'out.ndjson'), 'utf8').trimEnd().split('\n')
    t.same(
      out.map((l) => (JSON.parse(l) as { id: number }).id).sort((a, b) => a - b),
      lines.map((_, i) => (i + 1) * 10).filter((id) => id !== 2500),
    )
    const deadLines = readFileSync(join(dir, 'dead.ndjson'), 'utf8').trimEnd().split('\n')
    t.equal(deadLines.length, 1)
    t.match(JSON.parse(deadLines[0]!), {
      data: '{"id": 250,',
      metadata: { file: input, line: 250 },
      reason: {
        name: 'MalformedRecordError',
        code: 'SW_ERR_MALFORMED_RECORD',
        line: 250,
        raw: '{"id": 250,',
      },
      attempts: 1,
    })
  },
)
