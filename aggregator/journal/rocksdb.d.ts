// The part of @nxtedition/rocksdb (no types of its own) that the journal uses.
declare module '@nxtedition/rocksdb' {
  export interface RocksIterator {
    nextv(size: number): Promise<[Buffer, Buffer][]>;
    close(): Promise<void>;
  }
  export interface RocksBatch {
    put(key: Uint8Array, value: Uint8Array): this;
    del(key: Uint8Array): this;
    _writeSync(options: { sync?: boolean }): void;
    close(): Promise<void>;
    _closeSync(): void;
  }
  export interface IteratorOptions {
    gt?: Uint8Array;
    gte?: Uint8Array;
    lt?: Uint8Array;
    lte?: Uint8Array;
    reverse?: boolean;
    limit?: number;
    keys?: boolean;
    values?: boolean;
    fillCache?: boolean;
  }
  export class RocksLevel {
    constructor(locationOrHandle: string | bigint, options?: { keyEncoding?: 'buffer'; valueEncoding?: 'buffer' });
    open(options?: Record<string, unknown>): Promise<void>;
    close(): Promise<void>;
    readonly status: string;
    readonly handle: bigint;
    get(key: Uint8Array): Promise<Buffer | undefined>;
    getMany(keys: Uint8Array[]): Promise<(Buffer | undefined)[]>;
    batch(): RocksBatch;
    iterator(options?: IteratorOptions): RocksIterator;
    clear(options: IteratorOptions): Promise<void>;
    getProperty(name: string): string;
    /**
     * abstract-level's: db.batch() attaches the batch (to close it with the db); only its close()
     * or write() detach it. The journal writes and closes with _writeSync/_closeSync, so it
     * detaches the batch itself, else the db would hold every batch and its buffers for good.
     */
    detachResource(resource: RocksBatch): void;
  }
}
