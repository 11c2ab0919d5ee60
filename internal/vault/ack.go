package vault

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"strings"
)

// The acknowledgement record (custody.log.ack) holds the sequence number and
// hash of the last custody entry the vault acknowledged. It is what tells a
// crash from a loss: a torn final log line whose entry is beyond the record
// was cut off before anyone was told it existed and may be trimmed; a log
// that ends before the record, or whose entry at the record's number has
// another hash, lost or rewrote acknowledged history, and the vault refuses
// to serve.
//
// The file holds two fixed-size slots written alternately with a checksum
// each, and is fsynced after every write, so a write torn by a crash damages
// at most the slot being written while the other still holds the previous
// acknowledgement. It costs one small write and fsync per flush of the
// custody log (groupcommit.go), which may make many entries durable at once:
// the record then names the last of them.
const ackSlotSize = 128

type ackFile struct {
	f    *os.File
	path string
	// next is the slot the next write goes to: not the one holding the
	// latest acknowledgement.
	next int64
	// fsync makes the file durable; its size never changes after it is
	// created, so the group commit gives it fdatasync (syncData).
	fsync func(*os.File) error
}

type ackState struct {
	seq     uint64
	hash    string
	missing bool // no record file: a data directory from before it existed
}

func openAckFile(path string) (*ackFile, ackState, error) {
	var st ackState
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		st.missing = true
		if f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return nil, st, fmt.Errorf("creating acknowledgement record: %w", err)
		}
		a := &ackFile{f: f, path: path, fsync: (*os.File).Sync}
		// Both slots valid from the start, so a torn first write leaves one.
		for _, slot := range []int64{0, 1} {
			if _, err := f.WriteAt(encodeAckSlot(0, genesisHash), slot*ackSlotSize); err != nil {
				f.Close()
				return nil, st, fmt.Errorf("creating acknowledgement record: %w", err)
			}
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, st, fmt.Errorf("creating acknowledgement record: %w", err)
		}
		return a, st, nil
	}
	if err != nil {
		return nil, st, fmt.Errorf("opening acknowledgement record: %w", err)
	}
	buf := make([]byte, 2*ackSlotSize)
	n, _ := f.ReadAt(buf, 0)
	valid := 0
	var latest int64
	for slot := 0; slot < 2; slot++ {
		if (slot+1)*ackSlotSize > n {
			continue
		}
		seq, hash, ok := decodeAckSlot(buf[slot*ackSlotSize : (slot+1)*ackSlotSize])
		if !ok {
			continue
		}
		valid++
		if valid == 1 || seq > st.seq {
			st.seq, st.hash, latest = seq, hash, int64(slot)
		}
	}
	if valid == 0 {
		f.Close()
		return nil, st, fmt.Errorf("acknowledgement record %s is damaged (no valid slot): the vault cannot tell which custody entries were acknowledged; "+
			"restore it together with the custody log from a backup", path)
	}
	return &ackFile{f: f, path: path, next: 1 - latest, fsync: (*os.File).Sync}, st, nil
}

func encodeAckSlot(seq uint64, hash string) []byte {
	body := fmt.Sprintf("ack1 %020d %s", seq, hash)
	line := fmt.Sprintf("%s %08x\n", body, crc32.ChecksumIEEE([]byte(body)))
	return []byte(line + strings.Repeat(" ", ackSlotSize-len(line)))
}

func decodeAckSlot(b []byte) (uint64, string, bool) {
	var seq uint64
	var hash string
	var sum uint32
	if _, err := fmt.Sscanf(string(b), "ack1 %020d %64s %08x\n", &seq, &hash, &sum); err != nil {
		return 0, "", false
	}
	body := fmt.Sprintf("ack1 %020d %s", seq, hash)
	if crc32.ChecksumIEEE([]byte(body)) != sum || !isHex64(hash) {
		return 0, "", false
	}
	return seq, hash, true
}

// write records entry seq with hash as the last acknowledged, in the slot
// not holding the latest acknowledgement.
func (a *ackFile) write(seq uint64, hash string) error {
	if err := a.writeSlot(a.next, seq, hash); err != nil {
		return err
	}
	a.next = 1 - a.next
	return nil
}

// restore writes seq and hash back into the slot a failed write may have
// torn (it holds the acknowledgement before the one that failed).
func (a *ackFile) restore(seq uint64, hash string) error { return a.writeSlot(a.next, seq, hash) }

func (a *ackFile) writeSlot(slot int64, seq uint64, hash string) error {
	if _, err := a.f.WriteAt(encodeAckSlot(seq, hash), slot*ackSlotSize); err != nil {
		return err
	}
	return a.fsync(a.f)
}

func (a *ackFile) close() { a.f.Close() }
