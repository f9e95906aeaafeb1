/** Fixed-capacity FIFO over a preallocated array, like the firmware's `ringPush`/`ringPop`. */
export class RingBuffer<T> {
  private readonly slots: Array<T | undefined>;
  private head = 0;
  private count = 0;

  constructor(readonly cap: number) {
    if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`RingBuffer cap must be a positive integer, got ${cap}`);
    this.slots = new Array<T | undefined>(cap).fill(undefined);
  }

  get depth(): number {
    return this.count;
  }

  /** Append; false (and nothing stored) when full. */
  push(v: T): boolean {
    if (this.count === this.cap) return false;
    this.slots[(this.head + this.count) % this.cap] = v;
    this.count++;
    return true;
  }

  /** Remove the oldest entry; undefined when empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const v = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.cap;
    this.count--;
    return v;
  }
}
