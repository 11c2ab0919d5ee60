package evidencevault

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

func TestDecideKeyring(t *testing.T) {
	now := time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC)
	const interval = 90 * 24 * time.Hour
	key := func(b byte) []byte { return bytes.Repeat([]byte{b}, vault.KeySize) }
	secret := func(activatedAt time.Time, recorded string, versions ...string) *corev1.Secret {
		s := &corev1.Secret{Data: map[string][]byte{}}
		for i, v := range versions {
			s.Data[v] = key(byte(i + 1))
		}
		s.Annotations = map[string]string{KeyringVersionsAnnotation: recorded, KeyActivatedAtAnnotation: activatedAt.Format(time.RFC3339)}
		return s
	}
	status := func(active uint32, inUse map[uint32]int) *vault.Status {
		return &vault.Status{ActiveKeyVersion: active, KeyVersionsInUse: inUse}
	}
	drawn := 0
	newKey := func() ([]byte, error) { drawn++; return key(0xee), nil }
	for _, tc := range []struct {
		name         string
		in           keyringInput
		action       keyringAction
		versions     []int32
		active       int32
		retired      []int32
		inMessage    string
		keyDrawn     bool
		noKeyInWords []byte
	}{
		{"first start: one key", keyringInput{interval: interval}, keyringCreate, []int32{1}, 1, nil, "", true, nil},
		{"a deleted keyring that held keys is lost, not recreated", keyringInput{reported: []int32{1, 2}, interval: interval},
			keyringMissing, nil, 0, nil, "versions 1,2", false, nil},
		{"steady", keyringInput{secret: secret(now.Add(-time.Hour), "1", "1"), interval: interval}, keyringKeep, []int32{1}, 1, nil, "", false, nil},
		{"rotation due: a new active version, the old kept", keyringInput{secret: secret(now.Add(-interval), "1", "1"), interval: interval},
			keyringRotate, []int32{1, 2}, 2, nil, "", true, nil},
		{"a version in use is kept", keyringInput{secret: secret(now.Add(-time.Hour), "1,2", "1", "2"), interval: interval,
			vault: status(2, map[uint32]int{1: 3, 2: 1})}, keyringKeep, []int32{1, 2}, 2, nil, "", false, nil},
		{"a version no object uses is retired once the vault seals with the newest", keyringInput{secret: secret(now.Add(-time.Hour), "1,2", "1", "2"),
			interval: interval, vault: status(2, map[uint32]int{2: 1})}, keyringRetire, []int32{2}, 2, []int32{1}, "", false, nil},
		{"nothing is retired while the vault still seals with an older version", keyringInput{secret: secret(now.Add(-time.Hour), "1,2", "1", "2"),
			interval: interval, vault: status(1, map[uint32]int{})}, keyringKeep, []int32{1, 2}, 2, nil, "", false, nil},
		{"nothing is retired while the vault cannot be asked", keyringInput{secret: secret(now.Add(-time.Hour), "1,2", "1", "2"), interval: interval},
			keyringKeep, []int32{1, 2}, 2, nil, "", false, nil},
		{"a version in use deleted by someone is refused, not regenerated", keyringInput{secret: secret(now.Add(-interval), "1,2", "2"), interval: interval},
			keyringMissing, nil, 0, nil, "key version(s) 1 are missing", false, nil},
		{"a short key is named by version, never printed", keyringInput{secret: &corev1.Secret{Data: map[string][]byte{"1": []byte("sixteen-byte-key")},
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{KeyringVersionsAnnotation: "1"}}}, interval: interval},
			keyringInvalid, nil, 0, nil, "key version 1 in the keyring Secret is 16 bytes", false, []byte("sixteen-byte-key")},
		{"an entry that is not a version", keyringInput{secret: &corev1.Secret{Data: map[string][]byte{"01": key(1)}}, interval: interval},
			keyringInvalid, nil, 0, nil, `"01", which is not a key version`, false, nil},
		{"a keyring restored by hand is recorded, its rotation clock starting now", keyringInput{secret: &corev1.Secret{Data: map[string][]byte{"3": key(3)}}, interval: interval},
			keyringAnnotate, []int32{3}, 3, nil, "", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			drawn = 0
			d, err := decideKeyring(tc.in, now, newKey)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(d.action).To(Equal(tc.action))
			g.Expect(d.versions).To(Equal(tc.versions))
			g.Expect(d.active).To(Equal(tc.active))
			g.Expect(d.retired).To(Equal(tc.retired))
			g.Expect(d.message).To(ContainSubstring(tc.inMessage))
			if tc.keyDrawn {
				g.Expect(drawn).To(BeNumerically(">", 0))
			} else {
				g.Expect(drawn).To(BeZero())
			}
			if tc.noKeyInWords != nil {
				g.Expect(strings.Contains(d.message, string(tc.noKeyInWords))).To(BeFalse(), "the key appears in the message")
			}
			if d.data != nil && d.action != keyringKeep {
				g.Expect(d.annotations[KeyringVersionsAnnotation]).To(Equal(joinVersions(d.versions)))
				for _, v := range d.versions {
					g.Expect(d.data).To(HaveKey(strings.TrimSpace(joinVersions([]int32{v}))))
				}
			}
		})
	}
}

func TestDecideKeyringReportsAFailedDraw(t *testing.T) {
	_, err := decideKeyring(keyringInput{interval: time.Hour}, time.Now(), func() ([]byte, error) { return nil, errors.New("no entropy") })
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring("no entropy")))
}

func TestHeldOrRetained(t *testing.T) {
	now := time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC)
	g := NewWithT(t)
	g.Expect(heldOrRetained(nil, now)).To(BeEmpty())
	g.Expect(heldOrRetained([]vault.ObjectInfo{{RetentionUntil: now.Add(-time.Hour)}}, now)).To(BeEmpty(), "past retention, no hold")
	msg := heldOrRetained([]vault.ObjectInfo{
		{Holds: []string{"case-1"}, RetentionUntil: now.Add(-time.Hour)},
		{RetentionUntil: now.Add(24 * time.Hour)},
		{RetentionUntil: now.Add(48 * time.Hour)},
	}, now)
	g.Expect(msg).To(ContainSubstring("1 object(s) under legal hold"))
	g.Expect(msg).To(ContainSubstring("2 object(s) inside their retention, the last until 2027-01-12T12:00:00Z"))
	g.Expect(msg).NotTo(ContainSubstring("case-1"), "hold references are not repeated")
}

func TestHumanBytes(t *testing.T) {
	g := NewWithT(t)
	g.Expect(humanBytes(512)).To(Equal("512 B"))
	g.Expect(humanBytes(1536)).To(Equal("1.5 KiB"))
	g.Expect(humanBytes(5 << 30)).To(Equal("5.0 GiB"))
}
