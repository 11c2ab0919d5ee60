package cooperationchannel

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// summaryTTL is how long one read of a gateway's cases summary serves the
// channels of its FocalPoint: the channels probed together ask it once.
const summaryTTL = 30 * time.Second

// summaries caches each FocalPoint's gateway cases summary for summaryTTL.
type summaries struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]summaryEntry
}

type summaryEntry struct {
	at  time.Time
	sum *wire.CasesSummary
	err error
}

// countRequests reads, when the peer was probed this reconcile, the FocalPoint's
// gateway summary of the requests received over each channel, for
// status.requests. A gateway that does not answer leaves status.requests as it
// was (the next probe asks again).
func (r *Reconciler) countRequests(ctx context.Context, s *scope) error {
	if s.probe == nil || s.fp == nil {
		return nil
	}
	sum, err := r.summaryOf(ctx, s)
	if err != nil {
		log.FromContext(ctx).V(1).Info("the gateway's cases summary could not be read; status.requests is kept", "error", err.Error())
		return nil
	}
	for _, ch := range sum.Channels {
		if ch.Channel != s.cc.Name {
			continue
		}
		ids := slices.Clone(ch.OverdueRequests)
		if len(ids) > wire.MaxSummaryIDs {
			ids = ids[:wire.MaxSummaryIDs]
		}
		s.requests = &cybercoopv1alpha1.ChannelRequestsStatus{Open: ptr.To(ch.Open), Overdue: ptr.To(ch.Overdue), OverdueRequests: ids}
	}
	return nil
}

func (r *Reconciler) summaryOf(ctx context.Context, s *scope) (*wire.CasesSummary, error) {
	key := types.NamespacedName{Namespace: s.fp.Namespace, Name: s.fp.Name}
	r.summaries.mu.Lock()
	if e, ok := r.summaries.entries[key]; ok && s.Now.Sub(e.at) < summaryTTL && s.Now.Sub(e.at) >= 0 {
		r.summaries.mu.Unlock()
		return e.sum, e.err
	}
	r.summaries.mu.Unlock()
	sum, err := r.fetchSummary(ctx, s)
	r.summaries.mu.Lock()
	defer r.summaries.mu.Unlock()
	if r.summaries.entries == nil {
		r.summaries.entries = map[types.NamespacedName]summaryEntry{}
	}
	r.summaries.entries[key] = summaryEntry{at: s.Now, sum: sum, err: err}
	return sum, err
}

// fetchSummary reads the FocalPoint's gateway cases summary.
func (r *Reconciler) fetchSummary(ctx context.Context, s *scope) (*wire.CasesSummary, error) {
	endpoint, serverName := GatewayEndpointOf(s.fp, r.GatewayEndpoint)
	return FetchSummary(ctx, r.Client, s.fp, endpoint, serverName)
}

// GatewayEndpointOf is a FocalPoint's own gateway: its Service (status.endpoint)
// unless override (an operator outside the cluster: tests, the demo) says otherwise.
func GatewayEndpointOf(fp *cybercoopv1alpha1.FocalPoint, override func(*cybercoopv1alpha1.FocalPoint) (string, string)) (endpoint, serverName string) {
	if override != nil {
		return override(fp)
	}
	u, err := url.Parse(fp.Status.Endpoint)
	if err != nil || u.Hostname() == "" {
		return "", ""
	}
	return fp.Status.Endpoint, u.Hostname()
}

// FetchSummary calls GET /v1/cases-summary on a FocalPoint's own gateway with the
// operator's client certificate (Secret <fp>-gateway-operator-client), trusting
// the FocalPoint's trust bundle. It reads counts and ids, never content.
func FetchSummary(ctx context.Context, c client.Client, fp *cybercoopv1alpha1.FocalPoint, endpoint, serverName string) (*wire.CasesSummary, error) {
	if endpoint == "" {
		return nil, fmt.Errorf("the FocalPoint reports no endpoint yet")
	}
	secret, err := certs.GetSecret(ctx, c, fp.Namespace, focalpoint.OperatorClientSecretName(fp))
	if err != nil || secret == nil {
		return nil, fmt.Errorf("the operator's client certificate for the gateway is not issued yet: %w", err)
	}
	cert, err := tls.X509KeyPair(secret.Data[pki.TLSCertKey], secret.Data[pki.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Errorf("the operator's client certificate in Secret %s does not load", secret.Name)
	}
	trust, err := certs.GetSecret(ctx, c, fp.Namespace, focalpoint.TrustBundleSecretName(fp))
	if err != nil || trust == nil {
		return nil, fmt.Errorf("the FocalPoint's trust bundle is not published yet: %w", err)
	}
	bundle, err := pki.ParseTrustBundle(trust.Data[pki.CACertKey])
	if err != nil {
		return nil, fmt.Errorf("the FocalPoint's trust bundle: %w", err)
	}
	cl := &http.Client{Timeout: probeTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS13, ServerName: serverName, RootCAs: bundle.CertPool(), Certificates: []tls.Certificate{cert},
	}}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer cl.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(endpoint, "/")+wire.PathCasesSummary, nil)
	if err != nil {
		return nil, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the gateway answered %d", resp.StatusCode)
	}
	var sum wire.CasesSummary
	if err := json.Unmarshal(body, &sum); err != nil {
		return nil, fmt.Errorf("the gateway's summary does not decode: %w", err)
	}
	return &sum, nil
}

// reportOverdue records a Warning when a channel has more overdue requests than
// its status said (ids only: a request's content never reaches an event).
func (r *Reconciler) reportOverdue(s *scope, before *cybercoopv1alpha1.ChannelRequestsStatus) {
	now := s.requests
	if now == nil || ptr.Deref(now.Overdue, 0) == 0 {
		return
	}
	if before != nil && ptr.Deref(before.Overdue, 0) >= ptr.Deref(now.Overdue, 0) {
		return
	}
	r.Recorder.Eventf(s.cc, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventRequestsOverdue, "CountRequests",
		"%d request(s) from %s past their deadline, not decided: %s (cybercoop cases show inbound/%s/<id>)",
		ptr.Deref(now.Overdue, 0), s.cc.Spec.Peer.Party(), strings.Join(now.OverdueRequests, ", "), s.cc.Spec.Peer.Party())
}
