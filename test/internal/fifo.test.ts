import t from 'tap'
import { Fifo } from '../../lib/internal/fifo.js'
import { seededRandom } from '../helpers.js'

t.test('keeps first-in first-out order across growth and wrap-around', (t) => {
  const random = seededRandom(11)
  const fifo = new Fifo<number>(2)
  const model: number[] = []
  for (let i = 0; i < 5000; i++) {
    if (random() < 0.6) {
      fifo.push(i)
      model.push(i)
    } else {
      t.equal(fifo.shift(), model.shift())
    }
    t.equal(fifo.length, model.length)
    t.equal(fifo.peek(), model[0])
  }
  t.end()
})

t.test('shift and peek on an empty queue give undefined', (t) => {
  const fifo = new Fifo<string>()
  t.equal(fifo.shift(), undefined)
  t.equal(fifo.peek(), undefined)
  t.equal(fifo.length, 0)
  t.end()
})
