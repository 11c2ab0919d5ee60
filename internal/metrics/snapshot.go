package metrics

import (
	"slices"
	"sync"
)

// series is one key's values as copied for a scrape.
type series[K comparable, V any] struct {
	key K
	v   V
}

// snapshot copies m under mu and sorts the copy by key with compare, so a scrape
// builds its metrics, in a stable order, without holding the lock.
func snapshot[K comparable, V any](mu *sync.Mutex, m map[K]*V, compare func(a, b K) int) []series[K, V] {
	mu.Lock()
	out := make([]series[K, V], 0, len(m))
	for k, v := range m {
		out = append(out, series[K, V]{k, *v})
	}
	mu.Unlock()
	slices.SortFunc(out, func(a, b series[K, V]) int { return compare(a.key, b.key) })
	return out
}
