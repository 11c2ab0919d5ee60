//go:build perf

package perf

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// channelState is what the harness keeps of a channel: whether it is Ready for its
// generation, and its client certificate's serial number.
type channelState struct {
	ready  bool
	serial string
}

// channelWatch follows every CooperationChannel through one watch of all
// namespaces, so the harness learns when channels turn Ready from the events the
// API server sends anyway, instead of listing every channel every 100 ms. Those
// lists, 192 channels or more each, loaded the API server being measured and were
// decoded in this process beside the manager: the mesh's time held them and the
// floor's did not.
type channelWatch struct {
	mu      sync.Mutex
	state   map[types.NamespacedName]channelState
	changed chan struct{} // holds one token when something changed since the last wait
	err     error
	cancel  context.CancelFunc
	done    chan struct{}
}

// watchChannels starts the watch. A watch without a resourceVersion begins with
// every existing channel, so nothing created before it is missed; when the API
// server ends the watch it is opened again the same way.
func watchChannels(cfg *rest.Config, scheme client.Options) (*channelWatch, error) {
	wc, err := client.NewWithWatch(cfg, scheme)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &channelWatch{state: map[types.NamespacedName]channelState{}, changed: make(chan struct{}, 1),
		cancel: cancel, done: make(chan struct{})}
	first, err := wc.Watch(ctx, &cybercoopv1alpha1.CooperationChannelList{})
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		defer close(w.done)
		stream := first
		for {
			w.follow(stream)
			if ctx.Err() != nil {
				return
			}
			next, err := wc.Watch(ctx, &cybercoopv1alpha1.CooperationChannelList{})
			if err != nil {
				w.fail(err)
				return
			}
			w.mu.Lock()
			w.state = map[types.NamespacedName]channelState{} // the new watch lists every channel again
			w.mu.Unlock()
			stream = next
		}
	}()
	return w, nil
}

func (w *channelWatch) follow(stream watch.Interface) {
	defer stream.Stop()
	for ev := range stream.ResultChan() {
		cc, ok := ev.Object.(*cybercoopv1alpha1.CooperationChannel)
		if !ok {
			if ev.Type == watch.Error {
				return
			}
			continue
		}
		key := types.NamespacedName{Namespace: cc.Namespace, Name: cc.Name}
		w.mu.Lock()
		if ev.Type == watch.Deleted {
			delete(w.state, key)
		} else {
			w.state[key] = channelState{ready: isReady(cc), serial: clientSerial(cc)}
		}
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
}

func (w *channelWatch) fail(err error) {
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// stop ends the watch and forgets what it held (the memory scenario measures this
// process, and the harness's copy of every channel is not the manager's).
func (w *channelWatch) stop() {
	w.cancel()
	<-w.done
	w.mu.Lock()
	w.state = nil
	w.mu.Unlock()
}

// wait calls done with the state of every channel each time an event changed it,
// until done reports true; it returns the moment done first held.
func (w *channelWatch) wait(ctx context.Context, timeout time.Duration, what string,
	done func(map[types.NamespacedName]channelState) bool) (time.Time, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		err, ok := w.err, w.err == nil && done(w.state)
		w.mu.Unlock()
		if err != nil {
			return time.Time{}, fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-deadline.C:
			return time.Time{}, fmt.Errorf("%s: not after %s", what, timeout)
		case <-w.changed:
		}
	}
}

// readyIn counts the Ready channels in namespaces.
func readyIn(state map[types.NamespacedName]channelState, namespaces map[string]bool) int {
	n := 0
	for key, s := range state {
		if s.ready && namespaces[key.Namespace] {
			n++
		}
	}
	return n
}
