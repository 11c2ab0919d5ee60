package cooperationchannel

import (
	"crypto/x509"
	"errors"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/reconciler"
)

// The first status of a channel whose FocalPoint has not reported yet is held only
// while all it would say is that the CA has not issued its certificate yet.
func TestFirstStatusHeldOnlyWhileTheNewFocalPointsCAIsPending(t *testing.T) {
	notIssued := fmt.Errorf("issuing the client certificate: %w", ca.ErrNotIssued)
	newFP := &cybercoopv1alpha1.FocalPoint{}
	reportedFP := &cybercoopv1alpha1.FocalPoint{Status: cybercoopv1alpha1.FocalPointStatus{
		Conditions: []metav1.Condition{{Type: cybercoopv1alpha1.ConditionReady, Status: metav1.ConditionFalse}}}}
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	old := &cybercoopv1alpha1.CooperationChannel{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))}}
	pending := func() *scope { return &scope{Base: &reconciler.Base{Now: now}, fp: newFP, cc: old} }
	justCreated := &cybercoopv1alpha1.CooperationChannel{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(now.Add(-time.Second))}}
	cases := []struct {
		name string
		edit func(*scope)
		err  error
		hold bool
	}{
		{"the CA pending, nothing reported yet", nil, nil, true},
		{"the CA's not being issued is the only error", nil, notIssued, true},
		{"the same, joined twice", nil, errors.Join(notIssued, notIssued), true},
		{"another error beside it", nil, errors.Join(notIssued, errors.New("reading ConfigMap to-vn-peer-trust: timeout")), false},
		{"another error", nil, errors.New("reading FocalPoint ke-poc: timeout"), false},
		{"the channel reported before", func(s *scope) { s.reported = true }, nil, false},
		{"the FocalPoint reported, even a failure", func(s *scope) { s.fp = reportedFP }, nil, false},
		{"the FocalPoint does not exist: FocalPointNotFound is reported", func(s *scope) { s.fp = nil }, nil, false},
		{"the FocalPoint does not exist yet, the channel created a second ago", func(s *scope) { s.fp, s.cc = nil, justCreated }, nil, true},
		{"the same, the channel reported before", func(s *scope) { s.fp, s.cc, s.reported = nil, justCreated, true }, nil, false},
		{"the same, the FocalPoint could not be read", func(s *scope) { s.fp, s.cc, s.fpErr = nil, justCreated, errors.New("timeout") }, nil, false},
		{"a channel to the FocalPoint's own country", func(s *scope) { s.peerIsSelf = true }, nil, false},
		{"the client certificate exists", func(s *scope) { s.client.Certificate = &x509.Certificate{} }, nil, false},
	}
	for _, c := range cases {
		s := pending()
		if c.edit != nil {
			c.edit(s)
		}
		if got := waitsOnNewFocalPoint(s, c.err); got != c.hold {
			t.Errorf("%s: held %v, want %v", c.name, got, c.hold)
		}
	}
}
