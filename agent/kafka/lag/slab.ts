// Fixed-size records of float64s, packed in chunks of 1024 records, with a free list: the lag
// evaluator keeps hundreds of thousands of small ring buffers without one object per record
// (and without copying everything when it grows).

const CHUNK_BITS = 10;
const CHUNK_RECORDS = 1 << CHUNK_BITS;
const MASK = CHUNK_RECORDS - 1;

export class Slab {
  private readonly chunks: Float64Array[] = [];
  private readonly free: number[] = [];
  private next = 0;
  private liveCount = 0;

  /** `stride` float64s per record. */
  constructor(readonly stride: number) {}

  /** A new record, every field NaN. */
  alloc(): number {
    const slot = this.free.length ? this.free.pop()! : this.next++;
    const c = slot >>> CHUNK_BITS;
    if (c === this.chunks.length) this.chunks.push(new Float64Array(CHUNK_RECORDS * this.stride));
    const base = (slot & MASK) * this.stride;
    this.chunks[c]!.fill(NaN, base, base + this.stride);
    this.liveCount++;
    return slot;
  }

  release(slot: number): void {
    this.free.push(slot);
    this.liveCount--;
  }

  /** The chunk holding `slot`; its fields start at base(slot). */
  chunk(slot: number): Float64Array {
    return this.chunks[slot >>> CHUNK_BITS]!;
  }

  base(slot: number): number {
    return (slot & MASK) * this.stride;
  }

  get live(): number {
    return this.liveCount;
  }

  get bytes(): number {
    return this.chunks.length * CHUNK_RECORDS * this.stride * 8;
  }
}
