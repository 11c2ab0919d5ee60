package vault

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Environment knobs of BenchmarkCustodyTree:
//
//	VAULT_BENCH_TREE_ENTRIES  entries in the tree (default 1,000,000)
//	VAULT_BENCH_LOG_APPENDS   fsynced log appends measured, half with the tree and half without (default 600)
//	VAULT_BENCH_PROOFS        inclusion and consistency proofs produced and verified (default 2000 each)

// benchEntryLines encodes n realistic custody entries, cycling through an
// ingest (with its metadata), a read, an export and a hold by a client
// with a certificate, chained as the log chains them.
func benchEntryLines(b *testing.B, n int) [][]byte {
	b.Helper()
	now := epoch
	prev := genesisHash
	lines := make([][]byte, n)
	for i := range n {
		d := newDigest(SHA256, randomBytes(uint64(i), 32))
		e := Entry{Seq: uint64(i + 1), Time: now.Add(time.Duration(i) * time.Second), Actor: "spiffe://police.example/ns/intake/sa/vault-client",
			Cert: &testActor, Object: d, LegalBasis: "UNCC art. 28 (search and seizure of stored data)", Prev: prev}
		switch i % 4 {
		case 0:
			m := testMetadata(now)
			e.Action, e.Reference, e.Metadata, e.Size, e.KeyVersion = ActionIngest, m.CaseReference, &m, 1<<20, 1
		case 1:
			e.Action, e.Reference = ActionRead, "WARRANT/7"
		case 2:
			e.Action, e.Reference = ActionExport, "WARRANT/7"
		case 3:
			e.Action, e.Reference = ActionHold, "CASE/2031/0042"
		}
		e, line, err := encodeEntry(e)
		if err != nil {
			b.Fatal(err)
		}
		prev = e.Hash
		lines[i] = line[:len(line)-1]
	}
	return lines
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// appendWithoutTree is custodyLog.append as it was before the Merkle tree:
// encode, one write, fsync, acknowledgement record (fsynced), no leaf. It
// mirrors custodyLog.append minus its tree.append line, so that the two
// differ by exactly the tree. (Failure handling is left out: the benchmark
// stops on the first error.)
func appendWithoutTree(l *custodyLog, e Entry) error {
	e.Seq, e.Prev, e.Time = l.lastSeq+1, l.lastHash, e.Time.UTC()
	e, line, err := encodeEntry(e)
	if err != nil {
		return err
	}
	if _, err := l.f.Write(line); err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	if err := l.ack.write(e.Seq, e.Hash); err != nil {
		return err
	}
	l.lastSeq, l.lastHash = e.Seq, e.Hash
	l.size += int64(len(line))
	return nil
}

// BenchmarkCustodyTree measures the Merkle tree over the custody log at
// VAULT_BENCH_TREE_ENTRIES (1,000,000) entries and reports custom metrics:
//
//   - tree-appends/s: leaves appended to the in-memory tree (leaf hash,
//     interior hashes, storing every perfect subtree), building it from empty;
//   - log-appends/s-tree, log-appends/s-no-tree and log-tree-ratio: today's
//     fsynced custody-log append (write, fsync, acknowledgement record) onto
//     a tree already holding every entry, against the same append without the
//     tree, alternated one by one in this process (one over the median time
//     of each); the ratio
//     is with/without, so 1.0 means the tree costs nothing measurable;
//   - tree-share-%: one tree append as a share of one fsynced log append
//     (the difference the ratio tries to see through the disk's noise);
//   - encode-ns/entry: encoding one entry (JSON twice and SHA-256), for scale;
//   - checkpoint-µs: root hash of the whole tree plus the Ed25519 signature;
//   - inclusion-prove-µs, inclusion-verify-µs, consistency-prove-µs,
//     consistency-verify-µs and the proofs' hashes: means over
//     VAULT_BENCH_PROOFS random proofs against the full tree;
//   - tree-B/entry (bytes of stored hashes, capacity included), heap-B/entry
//     and heap-MB: live heap after building, over the heap before.
//
// Building the million entries through the real log would fsync a million
// times (hours on most disks), so the tree is built directly and the fsynced
// log append is measured on VAULT_BENCH_LOG_APPENDS entries, with the tree at
// full size.
func BenchmarkCustodyTree(b *testing.B) {
	n := benchEnvInt(b, "VAULT_BENCH_TREE_ENTRIES", 1_000_000)
	logAppends := int(benchEnvInt(b, "VAULT_BENCH_LOG_APPENDS", 600))
	proofs := int(benchEnvInt(b, "VAULT_BENCH_PROOFS", 2000))
	sample := benchEntryLines(b, 1024)
	line := func(i uint64) []byte { return sample[i%uint64(len(sample))] }
	b.ReportAllocs()

	for range b.N {
		// Encoding, for scale.
		start := time.Now()
		benchEntryLines(b, 4096)
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/4096, "encode-ns/entry")

		before := heapAlloc()
		tree := newMerkleTree()
		start = time.Now()
		for i := range uint64(n) {
			tree.append(line(i))
		}
		build := time.Since(start)
		after := heapAlloc()
		var stored int
		for _, l := range tree.levels {
			stored += cap(l)
		}
		b.ReportMetric(float64(n)/build.Seconds(), "tree-appends/s")
		b.ReportMetric(float64(stored)/float64(n), "tree-B/entry")
		b.ReportMetric(float64(after-before)/float64(n), "heap-B/entry")
		b.ReportMetric(float64(after)/1e6, "heap-MB")

		size := tree.size()
		skey, _, err := GenerateSigningKey("vault.bench/cybercoop")
		if err != nil {
			b.Fatal(err)
		}
		signer, err := LoadSigner([]byte(skey))
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		const checkpoints = 100
		var cp Checkpoint
		for range checkpoints {
			root, err := tree.root(size)
			if err != nil {
				b.Fatal(err)
			}
			cp = Checkpoint{Origin: signer.Name(), Size: size, Root: root}
			if _, err := signer.sign(cp.Text()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/checkpoints, "checkpoint-µs")

		rng := rand.New(rand.NewPCG(1, 2))
		indices := make([]uint64, proofs)
		for i := range indices {
			indices[i] = rng.Uint64N(size)
		}
		inclusion := make([][][]byte, proofs)
		start = time.Now()
		for i, idx := range indices {
			if inclusion[i], err = tree.inclusionProof(idx, size); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/float64(proofs), "inclusion-prove-µs")
		start = time.Now()
		for i, idx := range indices {
			if err := VerifyInclusion(cp, idx+1, line(idx), inclusion[i]); err != nil {
				b.Fatalf("inclusion proof of entry %d: %v", idx+1, err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/float64(proofs), "inclusion-verify-µs")
		b.ReportMetric(float64(len(inclusion[0])), "inclusion-hashes")

		older := make([]Checkpoint, proofs)
		for i := range older {
			s := 1 + rng.Uint64N(size-1)
			root, err := tree.root(s)
			if err != nil {
				b.Fatal(err)
			}
			older[i] = Checkpoint{Origin: cp.Origin, Size: s, Root: root}
		}
		consistency := make([][][]byte, proofs)
		start = time.Now()
		for i, o := range older {
			if consistency[i], err = tree.consistencyProof(o.Size, size); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/float64(proofs), "consistency-prove-µs")
		start = time.Now()
		for i, o := range older {
			if err := VerifyConsistency(o, cp, consistency[i]); err != nil {
				b.Fatalf("consistency proof from %d: %v", o.Size, err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/float64(proofs), "consistency-verify-µs")
		b.ReportMetric(float64(len(consistency[0])), "consistency-hashes")

		withTree, withoutTree := benchLogAppends(b, tree, logAppends)
		b.ReportMetric(withTree, "log-appends/s-tree")
		b.ReportMetric(withoutTree, "log-appends/s-no-tree")
		b.ReportMetric(withTree/withoutTree, "log-tree-ratio")
		b.ReportMetric(100*withTree/(float64(n)/build.Seconds()), "tree-share-%")
		runtime.KeepAlive(tree)
	}
}

// benchLogAppends appends total entries through two custody logs on the same
// disk, alternating one by one: one with tree as its Merkle tree (so each
// leaf lands on a full-size tree), one through appendWithoutTree. Each
// append is timed alone and the rate is one over the median time, so that
// the fsync stalls of a shared disk, which hit either log at random, do not
// decide the ratio.
func benchLogAppends(b *testing.B, tree *merkleTree, total int) (withTree, withoutTree float64) {
	b.Helper()
	dir := b.TempDir()
	open := func(name string) *custodyLog {
		l, _, err := openCustodyLog(filepath.Join(dir, name), func(Entry) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { l.close() })
		return l
	}
	logTree, logPlain := open("with-tree.log"), open("without-tree.log")
	logTree.tree = tree
	entry := Entry{Time: epoch, Actor: "spiffe://police.example/ns/intake/sa/vault-client", Cert: &testActor, Action: ActionRead,
		Object: newDigest(SHA256, randomBytes(1, 32)), LegalBasis: "UNCC art. 28 (search and seizure of stored data)", Reference: "WARRANT/7"}
	var times [2][]float64
	for i := range max(2, total) {
		which := i % 2
		start := time.Now()
		var err error
		if which == 0 {
			_, err = logTree.append(entry)
		} else {
			err = appendWithoutTree(logPlain, entry)
		}
		if err != nil {
			b.Fatal(fmt.Errorf("log append: %w", err))
		}
		times[which] = append(times[which], time.Since(start).Seconds())
	}
	return 1 / median(times[0]), 1 / median(times[1])
}
