import t from 'tap'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { defaultLogger, isLogger } from '../lib/logger.js'

t.test('the default logger is pino at level warn', (t) => {
  const logger = defaultLogger()
  t.equal(logger.level, 'warn')
  t.ok(isLogger(logger))
  t.end()
})

t.test('isLogger accepts a pino logger and rejects what lacks its methods', (t) => {
  t.ok(isLogger(pino({ level: 'silent' })))
  t.notOk(isLogger({ error() {}, warn() {} }))
  t.notOk(isLogger(null))
  t.notOk(isLogger('logger'))
  t.end()
})

t.test('redactPaths hide auth headers, passwords and tokens at the top and one level down', (t) => {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString())
      callback()
    },
  })
  // The default logger, at a level and to a stream of the caller's (as the CLI makes it).
  const logger = defaultLogger('info', sink)
  t.equal(logger.level, 'info')
  logger.debug('not at info')
  logger.info({
    headers: { authorization: 'Bearer top-secret', cookie: 'c=1' },
    request: { headers: { authorization: 'Basic abc' } },
    sasl: { password: 'hunter2' },
    token: 'tok',
  })
  const text = lines.join('')
  for (const secret of ['top-secret', 'c=1', 'Basic abc', 'hunter2', '"tok"']) t.notMatch(text, secret)
  t.match(text, '[redacted]')
  t.notMatch(text, 'not at info')
  t.match(text, '"name":"streamway"')
  t.end()
})
