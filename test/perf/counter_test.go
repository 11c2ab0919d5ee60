package perf

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unique"

	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"

	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
)

// apiRequest is one request the manager sent to the API server, as the counting
// transport classified it.
type apiRequest struct {
	verb      string // get, list, watch, create, update, patch, delete, deletecollection
	resource  string // plural resource, with "/subresource" when there is one
	namespace string
	name      string
	status    int
	start     int64 // Unix nanoseconds
	took      time.Duration
}

func (r apiRequest) write() bool {
	switch r.verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}

// apiCounter records every request that passes through the transport it wraps:
// the manager's client, its informers and its event recorder all share the REST
// config, so nothing the manager sends is missed.
type apiCounter struct {
	mu       sync.Mutex
	requests []apiRequest
}

// wrap returns a copy of cfg whose requests are counted.
func (c *apiCounter) wrap(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			t0 := time.Now()
			resp, err := rt.RoundTrip(req)
			r := classify(req)
			r.start, r.took = t0.UnixNano(), time.Since(t0)
			if resp != nil {
				r.status = resp.StatusCode
			}
			c.mu.Lock()
			c.requests = append(c.requests, r)
			c.mu.Unlock()
			return resp, err
		})
	}
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// mark is a position in the record; since returns what was recorded after it.
func (c *apiCounter) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.requests)
}

func (c *apiCounter) since(mark int) []apiRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests[mark:])
}

// classify reads the verb, resource, namespace and name from a request path of
// the form /api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUB]] or the same under
// /apis/GROUP/VERSION.
func classify(req *http.Request) apiRequest {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return apiRequest{verb: strings.ToLower(req.Method), resource: "(non-resource)"}
	}
	// Shared copies: the record outlives the request, whose path these would keep,
	// and the same few namespaces, resources and names recur in tens of thousands
	// of records, which the memory scenario measures with the manager.
	r := apiRequest{}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		r.namespace, parts = unique.Make(parts[1]).Value(), parts[2:]
	}
	if len(parts) > 2 {
		parts[0] += "/" + parts[2]
	}
	if len(parts) > 0 {
		r.resource = unique.Make(parts[0]).Value()
	}
	if len(parts) > 1 {
		r.name = unique.Make(parts[1]).Value()
	}
	switch req.Method {
	case http.MethodGet:
		switch {
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			r.verb = "watch"
		case r.name == "":
			r.verb = "list"
		default:
			r.verb = "get"
		}
	case http.MethodPost:
		r.verb = "create"
		if r.name == "" {
			r.name = createdName(req)
		}
	case http.MethodPut:
		r.verb = "update"
	case http.MethodPatch:
		r.verb = "patch"
	case http.MethodDelete:
		r.verb = "delete"
		if r.name == "" {
			r.verb = "deletecollection"
		}
	default:
		r.verb = strings.ToLower(req.Method)
	}
	return r
}

// createdName reads metadata.name from a create's body; a create names its
// object only there.
func createdName(req *http.Request) string {
	if req.GetBody == nil {
		return ""
	}
	body, err := req.GetBody()
	if err != nil {
		return ""
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, 4<<20))
	if err != nil {
		return ""
	}
	// JSON or protobuf: the client picks per kind.
	obj, _, err := decoder.Decode(data, nil, nil)
	if err != nil {
		return ""
	}
	if o, ok := obj.(metav1.Object); ok {
		// A copy: the decoded object's strings may share its memory, which the
		// record would otherwise keep for as long as the harness runs.
		return strings.Clone(o.GetName())
	}
	return ""
}

var decoder = serializer.NewCodecFactory(manageropts.Scheme()).UniversalDeserializer()

// tally sums requests: by verb, writes by resource, and conflicts.
type tally struct {
	byVerb      map[string]int
	writesByRes map[string]int
	getsByRes   map[string]int // direct reads (not the cache) by resource and answer
	writes      int
	conflicts   int
	total       int
}

func count(reqs []apiRequest, keep func(apiRequest) bool) tally {
	t := tally{byVerb: map[string]int{}, writesByRes: map[string]int{}, getsByRes: map[string]int{}}
	for _, r := range reqs {
		if keep != nil && !keep(r) {
			continue
		}
		t.total++
		t.byVerb[r.verb]++
		if r.write() {
			t.writes++
			t.writesByRes[r.verb+" "+r.resource]++
		}
		if r.verb == "get" {
			t.getsByRes[fmt.Sprintf("%s %d", r.resource, r.status)]++
		}
		if r.status == http.StatusConflict {
			t.conflicts++
		}
	}
	return t
}

// notEvent leaves out the event recorder's requests: events are how the operator
// tells people what it did, counted apart from the writes that do it.
func notEvent(r apiRequest) bool { return r.resource != "events" }

// writesTo counts the writes to the named object of a resource.
func writesTo(reqs []apiRequest, resource, namespace, name string) int {
	n := 0
	for _, r := range reqs {
		if r.write() && r.resource == resource && r.namespace == namespace && r.name == name {
			n++
		}
	}
	return n
}

// channelsSecretWrites counts the writes to the gateway channels Secrets of fp, all of them.
func channelsSecretWrites(reqs []apiRequest, fp *cybercoopv1alpha1.FocalPoint) int {
	n := 0
	for _, name := range focalpoint.ChannelsSecretNames(fp) {
		n += writesTo(reqs, "secrets", fp.Namespace, name)
	}
	return n
}

// describeWrites lists writes by verb and resource, most frequent first, for a
// failure message or a report cell.
func (t tally) describeWrites() string { return describeCounts(t.writesByRes) }

// describeGets lists the reads sent to the API server by resource and answer.
func (t tally) describeGets() string { return describeCounts(t.getsByRes) }

func describeCounts(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// reconciles is controller-runtime's count of reconciles of the named controller
// (all controllers when name is empty), over every result.
func reconciles(name string) float64 {
	gathered, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0
	}
	families := make(map[string]*dto.MetricFamily, len(gathered))
	for _, f := range gathered {
		families[f.GetName()] = f
	}
	var match map[string][]string
	if name != "" {
		match = map[string][]string{"controller": {name}}
	}
	return sum(families, "controller_runtime_reconcile_total", match)
}

// sum adds the values (gauge, counter or untyped) of family name whose labels
// have, for each label of match, one of its values.
func sum(families map[string]*dto.MetricFamily, name string, match map[string][]string) float64 {
	total := 0.0
	for _, metric := range families[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range metric.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		matches := true
		for k, values := range match {
			matches = matches && slices.Contains(values, labels[k])
		}
		if matches {
			total += metric.GetGauge().GetValue() + metric.GetCounter().GetValue() + metric.GetUntyped().GetValue()
		}
	}
	return total
}
