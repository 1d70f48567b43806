/**
 * The lease store a DhcpServer opens by default: SQLite where better-sqlite3 is installed (an optional
 * dependency: it needs a C compiler to build), else a journal of JSON lines next to where the SQLite
 * file would be (`FILE.jsonl`), equally durable, said once as a warning.
 */
import { FileLeaseStore } from './file-store.js';
import { type LeaseStore, SqliteLeaseStore, sqliteAvailable } from './store.js';

export interface OpenLeaseStoreOptions {
  onAlert?: (message: string) => void;
  onWarning?: (message: string) => void;
}

export function openLeaseStore(file: string, o: OpenLeaseStoreOptions = {}): LeaseStore {
  const alert = o.onAlert ? { onAlert: o.onAlert } : {};
  if (sqliteAvailable()) return new SqliteLeaseStore(file, alert);
  const journal = `${file}.jsonl`;
  o.onWarning?.(`SQLite is not installed (the optional better-sqlite3): leases are kept in ${journal} instead`);
  return new FileLeaseStore(journal, alert);
}
