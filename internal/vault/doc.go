// Package vault is the evidence store of the cybercoop operator: objects are
// content-addressed (SHA-256, or SHA-512 by choice), sealed with AES-256-GCM
// in chunks under a versioned keyring, and every action on them is an entry
// in an append-only, hash-chained custody log.
//
// The custody log (custody.log in the data directory) is the single source of
// truth for metadata, holds and expiries; the in-memory index is a replay of
// it. Objects live behind BlobStore (FSStore today, S3 with Object Lock as the
// scale-out path).
//
// Crash safety: an object file is written to tmp/, fsynced, renamed into
// objects/ and its directory fsynced before its ingest entry is appended and
// fsynced; only then is the ingest acknowledged. On start, a torn final log
// line is truncated, object files without an ingest entry are moved to
// quarantine/ (never deleted: they were never acknowledged, but a person
// decides), interrupted expiries are completed, and a recover entry records
// all of it.
//
// Reads are verified on the way out: ObjectReader releases the final chunk
// only after the whole plaintext matched the digest, and the HTTP API sends
// Content-Length and aborts the connection on failure, so a client never
// receives a complete-looking unverified object.
package vault
