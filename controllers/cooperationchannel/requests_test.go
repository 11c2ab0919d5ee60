package cooperationchannel

import (
	"strings"
	"testing"

	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// TestReportOverdue: a Warning when more requests are overdue than the status
// said, naming ids only; none when the count stays or falls.
func TestReportOverdue(t *testing.T) {
	counts := func(open, overdue int32, ids ...string) *cybercoopv1alpha1.ChannelRequestsStatus {
		return &cybercoopv1alpha1.ChannelRequestsStatus{Open: ptr.To(open), Overdue: ptr.To(overdue), OverdueRequests: ids}
	}
	cc := &cybercoopv1alpha1.CooperationChannel{Spec: cybercoopv1alpha1.CooperationChannelSpec{Peer: cybercoopv1alpha1.PeerSpec{Country: "FR"}}}
	for _, tc := range []struct {
		name        string
		before, now *cybercoopv1alpha1.ChannelRequestsStatus
		want        string
	}{
		{"first overdue", nil, counts(2, 1, "rq-a"), "1 request(s) from FR past their deadline, not decided: rq-a"},
		{"one more", counts(3, 1, "rq-a"), counts(3, 2, "rq-a", "rq-b"), "2 request(s) from FR past their deadline, not decided: rq-a, rq-b"},
		{"unchanged", counts(3, 2, "rq-a", "rq-b"), counts(4, 2, "rq-a", "rq-b"), ""},
		{"fewer", counts(3, 2, "rq-a", "rq-b"), counts(3, 1, "rq-b"), ""},
		{"none", nil, counts(1, 0), ""},
		{"not read", counts(1, 1, "rq-a"), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := events.NewFakeRecorder(4)
			r := &Reconciler{Recorder: rec}
			r.reportOverdue(&scope{cc: cc, requests: tc.now}, tc.before)
			var got string
			select {
			case got = <-rec.Events:
			default:
			}
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("event %q, want one containing %q", got, tc.want)
			}
			if tc.want != "" && !strings.HasPrefix(got, "Warning RequestsOverdue") {
				t.Errorf("event %q is not a RequestsOverdue Warning", got)
			}
		})
	}
}
