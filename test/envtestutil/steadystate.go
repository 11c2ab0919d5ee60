package envtestutil

import (
	"context"
	"strings"

	. "github.com/onsi/gomega" //nolint:staticcheck // the suites' assertion language
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SteadyState describes a check that reconciling an unchanged object writes nothing.
type SteadyState struct {
	// Reconcile runs one reconcile of the object with c as the reconciler's client.
	Reconcile func(ctx context.Context, c client.Client) (ctrl.Result, error)
	// Base is the client whose writes are counted, normally the manager's cached
	// client; Wrap, if set, turns the counting client into the reconciler's client
	// (for example manageropts.ReconcilerClient).
	Base client.Client
	Wrap func(client.Client) client.Client
	// Direct reads what is stored, bypassing every cache.
	Direct client.Client
	// Objects are the resource and its children, by what they are: their
	// resourceVersions catch any write at all, the reconciler's or another's.
	Objects map[string]client.Object
	// Times is how many steady-state reconciles are counted; default 5.
	Times int
	// Result, if set, checks each counted reconcile's result.
	Result func(ctrl.Result)
}

// ExpectZeroWrites reconciles through a write-counting client of its own (a running
// manager's legitimate writes through a shared counter must not be counted) until a
// reconcile writes nothing — the manager's cache may lag the API server — and then
// asserts that Times more reconciles write nothing and leave every object's
// resourceVersion as it was.
func ExpectZeroWrites(ctx context.Context, s SteadyState) {
	counted := NewWriteCounter(s.Base)
	var c client.Client = counted
	if s.Wrap != nil {
		c = s.Wrap(counted)
	}
	Eventually(func(g Gomega) {
		before := len(counted.Writes())
		_, err := s.Reconcile(ctx, c)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(counted.Writes()[before:]).To(BeEmpty())
	}).Should(Succeed())

	versions := func() map[string]string {
		rv, err := ResourceVersions(ctx, s.Direct, s.Objects)
		Expect(err).NotTo(HaveOccurred())
		return rv
	}
	rvBefore := versions()
	before := len(counted.Writes())
	times := s.Times
	if times == 0 {
		times = 5
	}
	for range times {
		res, err := s.Reconcile(ctx, c)
		Expect(err).NotTo(HaveOccurred())
		if s.Result != nil {
			s.Result(res)
		}
	}
	Expect(counted.Writes()[before:]).To(BeEmpty(), "steady-state reconciles wrote: %s", strings.Join(counted.Writes()[before:], ", "))
	Expect(versions()).To(Equal(rvBefore), "the resource or a child was written during steady state")
}
