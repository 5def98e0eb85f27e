// The view's cache of pair pages fetched from the host. The view asks only for pages covering the
// visible rows, remembers what is in flight so scrolling does not repeat requests, and forgets the
// least recently used pages past a bound so a long scroll through 50 MB keeps memory flat.

export class PageCache<T> {
  private pages = new Map<number, T[]>();
  private pending = new Set<number>();

  constructor(
    readonly pageSize = 50,
    private readonly maxPages = 40,
  ) {}

  /** Page indexes covering rows [first, end) that are neither cached nor requested. */
  missing(first: number, end: number): number[] {
    const out: number[] = [];
    if (end <= first) return out;
    for (let p = Math.floor(first / this.pageSize); p <= Math.floor((end - 1) / this.pageSize); p++) {
      if (!this.pages.has(p) && !this.pending.has(p)) out.push(p);
    }
    return out;
  }

  /** Marks a page as requested. */
  request(page: number): { start: number; count: number } {
    this.pending.add(page);
    return { start: page * this.pageSize, count: this.pageSize };
  }

  /** Stores rows that start at row `start` (a page start). */
  put(start: number, rows: T[]): void {
    const page = Math.floor(start / this.pageSize);
    this.pending.delete(page);
    this.pages.delete(page);
    this.pages.set(page, rows);
    while (this.pages.size > this.maxPages) {
      const oldest = this.pages.keys().next().value as number;
      this.pages.delete(oldest);
    }
  }

  /** The row at `index`, when its page is here (refreshes the page's recency). */
  get(index: number): T | undefined {
    const page = Math.floor(index / this.pageSize);
    const rows = this.pages.get(page);
    if (!rows) return undefined;
    this.pages.delete(page);
    this.pages.set(page, rows);
    return rows[index - page * this.pageSize];
  }

  /** Forgets everything (the document or filter changed). */
  clear(): void {
    this.pages.clear();
    this.pending.clear();
  }
}
