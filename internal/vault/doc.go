// Package vault is the evidence store of the cybercoop operator: objects are
// content-addressed (SHA-256, or SHA-512 by choice), sealed with AES-256-GCM
// in chunks under a versioned keyring, and every action on them is an entry in
// an append-only, hash-chained custody log that is also an RFC 6962 Merkle
// tree with signed checkpoints (merkle.go, export.go).
//
// The custody log (custody.log in the data directory) is the single source of
// truth for metadata, cases, holds and expiries; the in-memory index is a
// replay of it. Objects live behind BlobStore: FSStore, or S3Store, an S3
// bucket with Object Lock in COMPLIANCE mode that also keeps the custody log
// as one locked object per entry (s3vault.go).
//
// Who may do what is decided by roles granted to client certificate
// identities (access.go); the actor recorded is the certificate's URI SAN or
// subject, with issuer, serial and fingerprint.
//
// Nothing incomplete is acknowledged: an object stream counts as complete
// only if it ends in io.EOF (a cut-off body is an error) and matches what the
// client declared; the HTTP API also requires the closing multipart
// delimiter at the end of the body.
//
// Crash safety: an object file is written to tmp/, fsynced, renamed into
// objects/ and its directory fsynced before its ingest entry is appended and
// fsynced and recorded in the acknowledgement record (ack.go); only then is
// the ingest acknowledged. On start, a torn final log line is truncated only
// if its entry was never acknowledged (otherwise the vault changes nothing
// and refuses to serve), object files without an ingest entry are moved to
// quarantine/ (never deleted: they were never acknowledged, but a person
// decides), interrupted expiries are completed, and a recover entry records
// all of it.
//
// Reads are verified: the HTTP API decrypts and hashes the whole object
// before sending a status line, and ObjectReader releases the final chunk
// only after the whole plaintext matched the digest, so a client never
// receives a complete-looking unverified object.
package vault
