package envtestutil

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WriteCounter wraps a client and records every write it sends to the API server
// (create, update, patch, delete, apply, on objects and their subresources), so a
// test can prove that a steady-state reconcile writes nothing.
type WriteCounter struct {
	client.Client
	mu     sync.Mutex
	writes []string
}

// NewWriteCounter wraps c.
func NewWriteCounter(c client.Client) *WriteCounter { return &WriteCounter{Client: c} }

func (w *WriteCounter) record(verb string, obj runtime.Object) {
	name := ""
	if o, ok := obj.(client.Object); ok {
		name = o.GetNamespace() + "/" + o.GetName()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, fmt.Sprintf("%s %T %s", verb, obj, name))
}

// Writes returns the writes recorded so far, oldest first.
func (w *WriteCounter) Writes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

// Create records and forwards.
func (w *WriteCounter) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	w.record("create", obj)
	return w.Client.Create(ctx, obj, opts...)
}

// Update records and forwards.
func (w *WriteCounter) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	w.record("update", obj)
	return w.Client.Update(ctx, obj, opts...)
}

// Patch records and forwards.
func (w *WriteCounter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	w.record("patch", obj)
	return w.Client.Patch(ctx, obj, patch, opts...)
}

// Delete records and forwards.
func (w *WriteCounter) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	w.record("delete", obj)
	return w.Client.Delete(ctx, obj, opts...)
}

// DeleteAllOf records and forwards.
func (w *WriteCounter) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	w.record("deleteallof", obj)
	return w.Client.DeleteAllOf(ctx, obj, opts...)
}

// Apply records and forwards.
func (w *WriteCounter) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	w.record("apply", nil)
	return w.Client.Apply(ctx, obj, opts...)
}

// Status wraps the status writer.
func (w *WriteCounter) Status() client.SubResourceWriter {
	return &subResourceCounter{SubResourceWriter: w.Client.Status(), w: w, name: "status"}
}

// SubResource wraps a subresource client.
func (w *WriteCounter) SubResource(name string) client.SubResourceClient {
	return &subResourceClientCounter{SubResourceClient: w.Client.SubResource(name), w: w, name: name}
}

type subResourceCounter struct {
	client.SubResourceWriter
	w    *WriteCounter
	name string
}

func (s *subResourceCounter) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	s.w.record(s.name+" create", obj)
	return s.SubResourceWriter.Create(ctx, obj, sub, opts...)
}

func (s *subResourceCounter) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.w.record(s.name+" update", obj)
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

func (s *subResourceCounter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.w.record(s.name+" patch", obj)
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

func (s *subResourceCounter) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	s.w.record(s.name+" apply", nil)
	return s.SubResourceWriter.Apply(ctx, obj, opts...)
}

type subResourceClientCounter struct {
	client.SubResourceClient
	w    *WriteCounter
	name string
}

func (s *subResourceClientCounter) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	s.w.record(s.name+" create", obj)
	return s.SubResourceClient.Create(ctx, obj, sub, opts...)
}

func (s *subResourceClientCounter) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.w.record(s.name+" update", obj)
	return s.SubResourceClient.Update(ctx, obj, opts...)
}

func (s *subResourceClientCounter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.w.record(s.name+" patch", obj)
	return s.SubResourceClient.Patch(ctx, obj, patch, opts...)
}

func (s *subResourceClientCounter) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	s.w.record(s.name+" apply", nil)
	return s.SubResourceClient.Apply(ctx, obj, opts...)
}
