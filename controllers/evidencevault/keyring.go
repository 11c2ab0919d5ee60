package evidencevault

import (
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// Annotations the operator records on the keyring Secret.
const (
	// KeyringVersionsAnnotation lists the key versions the operator made and has not
	// retired, e.g. "1,2,3". A listed version missing from the Secret's data was
	// removed by someone else: the operator refuses to go on rather than replace it.
	KeyringVersionsAnnotation = "cybercoop.io/keyring-versions"
	// KeyActivatedAtAnnotation is when the newest version became active, RFC 3339.
	KeyActivatedAtAnnotation = "cybercoop.io/key-activated-at"

	// defaultKeyRotation is spec.keyRotation.interval's default: 90 days.
	defaultKeyRotation = 90 * 24 * time.Hour
)

// keyringAction is what the keyring phase does.
type keyringAction string

const (
	keyringKeep   keyringAction = "Keep"
	keyringCreate keyringAction = "Create"
	keyringRotate keyringAction = "Rotate"
	keyringRetire keyringAction = "Retire"
	// keyringAnnotate records the versions and the activation time of a keyring the
	// operator did not make (restored from a backup); no key changes.
	keyringAnnotate keyringAction = "Annotate"
	keyringMissing  keyringAction = "Missing"
	keyringInvalid  keyringAction = "Invalid"
)

// keyringInput is what decideKeyring looks at.
type keyringInput struct {
	// secret is the keyring Secret as stored; nil when it does not exist.
	secret *corev1.Secret
	// reported are the key versions the EvidenceVault's status last listed, so a
	// deleted Secret is a lost keyring, not a first start.
	reported []int32
	interval time.Duration
	// vault is the vault's own report; nil when it could not be reached, and then
	// nothing is retired.
	vault *vault.Status
}

// keyringDecision is what the keyring phase does and the state that results.
type keyringDecision struct {
	action keyringAction
	// data and annotations are the Secret to write (Create, Rotate, Retire).
	data        map[string][]byte
	annotations map[string]string
	// versions, active and activatedAt describe the keyring after the action.
	versions    []int32
	active      int32
	activatedAt time.Time
	// retired are the versions removed; missing the versions found missing.
	retired, missing []int32
	message          string
}

// decideKeyring decides the keyring's next step at now. It is pure: keys for
// new versions are drawn by the caller's newKey.
func decideKeyring(in keyringInput, now time.Time, newKey func() ([]byte, error)) (keyringDecision, error) {
	if in.secret == nil {
		if len(in.reported) > 0 {
			return keyringDecision{action: keyringMissing, missing: in.reported, message: fmt.Sprintf(
				"the keyring Secret is gone although objects may be sealed under key versions %s; no key is made in its place "+
					"(a new key cannot read what the old ones sealed): restore the Secret from a backup", joinVersions(in.reported))}, nil
		}
		key, err := newKey()
		if err != nil {
			return keyringDecision{}, err
		}
		d := keyringDecision{action: keyringCreate, data: map[string][]byte{"1": key}, versions: []int32{1}, active: 1, activatedAt: now}
		d.annotations = keyringAnnotations(d.versions, now)
		return d, nil
	}
	present := map[int32]bool{}
	for name, key := range in.secret.Data {
		v, err := strconv.ParseInt(name, 10, 32)
		if err != nil || v < 1 || strconv.FormatInt(v, 10) != name {
			//nolint:nilerr // a malformed entry is a finding to report (KeysReady=False), not an error to retry
			return keyringDecision{action: keyringInvalid, message: fmt.Sprintf(
				"the keyring Secret holds the entry %q, which is not a key version (a decimal number from 1)", truncate(name, 20))}, nil
		}
		if len(key) != vault.KeySize {
			return keyringDecision{action: keyringInvalid, message: fmt.Sprintf(
				"key version %d in the keyring Secret is %d bytes; every key is %d bytes (AES-256)", v, len(key), vault.KeySize)}, nil
		}
		present[int32(v)] = true
	}
	recorded, err := parseVersions(in.secret.Annotations[KeyringVersionsAnnotation])
	if err != nil {
		//nolint:nilerr // a malformed annotation is a finding to report (KeysReady=False), not an error to retry
		return keyringDecision{action: keyringInvalid, message: "annotation " + KeyringVersionsAnnotation + ": " + err.Error()}, nil
	}
	var missing []int32
	for _, v := range recorded {
		if !present[v] {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		return keyringDecision{action: keyringMissing, missing: missing, message: fmt.Sprintf(
			"key version(s) %s are missing from the keyring Secret although objects may be sealed under them; no key is made in "+
				"their place (a new key cannot read what the old one sealed): restore the Secret from a backup", joinVersions(missing))}, nil
	}
	versions := slices.Sorted(maps.Keys(present))
	d := keyringDecision{action: keyringKeep, versions: versions, data: in.secret.Data}
	if len(versions) == 0 {
		return keyringDecision{action: keyringInvalid, message: "the keyring Secret holds no key"}, nil
	}
	d.active = versions[len(versions)-1]
	d.activatedAt, err = time.Parse(time.RFC3339, in.secret.Annotations[KeyActivatedAtAnnotation])
	if err != nil || !slices.Equal(recorded, versions) {
		// A keyring made by hand or adopted from a backup: the operator records what it
		// holds, and its rotation clock starts now.
		if err != nil {
			d.activatedAt = now
		}
		d.action = keyringAnnotate
		d.annotations = keyringAnnotations(versions, d.activatedAt)
	}
	switch {
	case !now.Before(d.activatedAt.Add(in.interval)):
		key, err := newKey()
		if err != nil {
			return keyringDecision{}, err
		}
		d.active++
		d.data = maps.Clone(in.secret.Data)
		d.data[strconv.Itoa(int(d.active))] = key
		d.versions = append(slices.Clone(versions), d.active)
		d.activatedAt = now
		d.action = keyringRotate
		d.annotations = keyringAnnotations(d.versions, now)
	case in.vault != nil && int32(in.vault.ActiveKeyVersion) == d.active:
		// The vault seals with the newest version, so an older version no live object
		// uses will never be needed again.
		var keep []int32
		for _, v := range versions {
			if v != d.active && in.vault.KeyVersionsInUse[uint32(v)] == 0 {
				d.retired = append(d.retired, v)
				continue
			}
			keep = append(keep, v)
		}
		if len(d.retired) > 0 {
			d.data = maps.Clone(in.secret.Data)
			for _, v := range d.retired {
				delete(d.data, strconv.Itoa(int(v)))
			}
			d.versions = keep
			d.action = keyringRetire
			d.annotations = keyringAnnotations(keep, d.activatedAt)
		}
	}
	return d, nil
}

func keyringAnnotations(versions []int32, activatedAt time.Time) map[string]string {
	return map[string]string{
		KeyringVersionsAnnotation: joinVersions(versions),
		KeyActivatedAtAnnotation:  activatedAt.UTC().Format(time.RFC3339),
	}
}

func joinVersions(vs []int32) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(int(v))
	}
	return strings.Join(s, ",")
}

func parseVersions(s string) ([]int32, error) {
	if s == "" {
		return nil, nil
	}
	var out []int32
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseInt(f, 10, 32)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a list of key versions", truncate(s, 40))
		}
		out = append(out, int32(v))
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// newAESKey draws a fresh AES-256 key.
func newAESKey() ([]byte, error) {
	key := make([]byte, vault.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("drawing a new key: %w", err)
	}
	return key, nil
}
