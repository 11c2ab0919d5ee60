package focalpoint

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/internal/workload"
)

// The gateway's channels are split across Secrets when one cannot hold them.
//
// Each channel puts three files in the gateway's channels directory: its client
// certificate, its key and its peer's CA bundle. A Secret holds at most 1 MiB, and a
// peer's bundle may take up to 64 KiB (spec.peer.trustBundle.pem): with P-256 CAs a
// channel takes about 2 KiB and one Secret holds some 400 channels, but with RSA
// CAs, intermediates, or a peer in the middle of a key replacement (old and new CA
// both trusted) it can take 5 to 20 KiB, and a State with a channel to each of the
// other 192 States Parties no longer fits. The API server then refuses the Secret,
// and from then on no channel change reaches the gateway, certificate renewals
// included: an outage at the next expiry.
//
// A FocalPoint whose channels fit in one Secret has what it always had: the one
// Secret (ChannelsSecretName), mounted as a Secret volume. Once they do not, it has
// maxChannelShards Secrets from then on, those it does not need empty, every one the
// FocalPoint's and every one mounted, by a projected volume, into the one directory
// the gateway reads as before; the first, which holds the channels file, is the
// volume's last source, so that no other can stand in for it. The count never
// changes again: channels coming and going never roll the pods, and no name the pods
// mount is ever free for somebody else's Secret. A channel's three files are always
// in one Secret, and a channel stays in the Secret that holds it while it fits
// there, so a renewal rewrites one Secret.
//
// The Secrets are written so that the gateway never reads a channels file naming a
// channel whose files are not there (it would keep its previous channels and try
// again, but a pod starting then would not start):
//  1. each other Secret gains its new files, keeping those it gives up (a channel
//     moved to another Secret, or removed), so that the old channels file and the new
//     one both find every file they name (where two Secrets hold a channel's files,
//     the later source wins, with all three);
//  2. the first Secret: the channels file and its own files;
//  3. the others give up what they no longer hold.
//
// The first time the channels take more than one Secret, the pods mount only the
// first: steps 2 and 3 wait until the Deployment mounts them all and has rolled out
// (the gateway keeps the channels it has meanwhile), and the first Secret then
// records that they are mounted (shardedAnnotation). Before then, a Secret under
// one of these names that is not the FocalPoint's is never taken over: the split
// waits, and the FocalPoint says which name is in the way. Once the pods mount every
// name, one that is not the FocalPoint's (somebody took it after a deletion) is in
// the gateway's directory already: it is replaced by the FocalPoint's, whatever its
// controller reference says.
const (
	// channelShardBytes is the most data one channels Secret holds: the API
	// server's limit is 1 MiB of data, and the margin leaves room for the object's
	// metadata within etcd's request limit.
	channelShardBytes = 900 << 10
	// secretDataLimit is the most data the API server accepts in a Secret.
	secretDataLimit = 1 << 20
	// maxChannelShards is how many channels Secrets a FocalPoint has once one is
	// not enough.
	maxChannelShards = 16
	// shardedAnnotation on the first channels Secret says the gateway's pods mount
	// every channels Secret: the channels have been in more than one since.
	shardedAnnotation = "cybercoop.io/channels-secrets"
)

// ChannelsShardSecretName is the i-th Secret of the gateway's channels: the first is
// ChannelsSecretName, which holds the channels file.
func ChannelsShardSecretName(fp *cybercoopv1alpha1.FocalPoint, i int) string {
	if i == 0 {
		return ChannelsSecretName(fp)
	}
	return fmt.Sprintf("%s-%d", ChannelsSecretName(fp), i)
}

// ChannelsSecretNames are the names fp's channels Secrets may have, the first first:
// as many as it may have.
func ChannelsSecretNames(fp *cybercoopv1alpha1.FocalPoint) []string {
	out := make([]string, maxChannelShards)
	for i := range out {
		out[i] = ChannelsShardSecretName(fp, i)
	}
	return out
}

// channelFiles are one channel's files in the gateway's channels directory.
type channelFiles struct {
	name  string
	files map[string][]byte
}

func (c channelFiles) size() int { return dataSize(c.files) }

// shardChannels places the channels file (index) and the channels' files into
// Secrets of at most budget bytes each (keys and values), at most maxShards of
// them: the index in the first; each channel, in order, in the Secret placed says
// holds it if it still fits there, otherwise in the first with room. It returns
// each Secret's data, as many as are used (at least one), or an error naming what
// does not fit.
func shardChannels(index []byte, channels []channelFiles, placed map[string]int, budget, maxShards int) ([]map[string][]byte, error) {
	shards, err := packChannels(index, channels, placed, budget, maxShards)
	if err != nil && placed != nil {
		// Channels kept where they were may leave gaps no other channel fits in:
		// packed afresh, they may fit.
		shards, err = packChannels(index, channels, nil, budget, maxShards)
	}
	return shards, err
}

func packChannels(index []byte, channels []channelFiles, placed map[string]int, budget, maxShards int) ([]map[string][]byte, error) {
	indexSize := len(gateway.ChannelsFile) + len(index)
	if indexSize > budget {
		return nil, fmt.Errorf("the channels file lists %d channel(s) in %s, more than a channels Secret holds (%s)",
			len(channels), kib(indexSize), kib(budget))
	}
	sizes := make([]int, maxShards)
	sizes[0] = indexSize
	where := make([]int, len(channels))
	total := indexSize
	for i, ch := range channels {
		n := ch.size()
		total += n
		where[i] = -1
		if n > budget {
			return nil, fmt.Errorf("the files of channel %s take %s, more than a channels Secret holds (%s)", ch.name, kib(n), kib(budget))
		}
		if s, ok := placed[ch.name]; ok && s >= 0 && s < maxShards && sizes[s]+n <= budget {
			where[i] = s
			sizes[s] += n
		}
	}
	used := 1
	for i, ch := range channels {
		if where[i] < 0 {
			n := ch.size()
			s := 0
			for s < maxShards && sizes[s]+n > budget {
				s++
			}
			if s == maxShards {
				return nil, fmt.Errorf("the channels' files take %s, more than the %d channels Secrets of %s a FocalPoint may have hold",
					kib(total), maxShards, kib(budget))
			}
			where[i] = s
			sizes[s] += n
		}
		used = max(used, where[i]+1)
	}
	shards := make([]map[string][]byte, used)
	for i := range shards {
		shards[i] = map[string][]byte{}
	}
	shards[0][gateway.ChannelsFile] = index
	for i, ch := range channels {
		maps.Copy(shards[where[i]], ch.files)
	}
	return shards, nil
}

// kib is n bytes in KiB, with a decimal unless whole.
func kib(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/1024)
}

// liveChannels are the FocalPoint's channels Secrets as the cache holds them (their
// data digested), by index.
type liveChannels struct {
	// own are the FocalPoint's; nil where there is none.
	own []*corev1.Secret
	// foreign are the names held by a Secret that is not the FocalPoint's:
	// somebody else's, whose files must never reach the gateway; controlled, those
	// another object controls.
	foreign, controlled []string
}

// liveShards reads the FocalPoint's channels Secrets.
func (r *Reconciler) liveShards(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint) (liveChannels, error) {
	out := liveChannels{own: make([]*corev1.Secret, maxChannelShards)}
	for i, name := range ChannelsSecretNames(fp) {
		s := &corev1.Secret{}
		err := r.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: name}, s)
		switch {
		case err == nil && metav1.IsControlledBy(s, fp):
			out.own[i] = s
		case err == nil:
			out.foreign = append(out.foreign, name)
			if metav1.GetControllerOfNoCopy(s) != nil {
				out.controlled = append(out.controlled, name)
			}
		case client.IgnoreNotFound(err) != nil:
			return liveChannels{}, fmt.Errorf("reading Secret %s: %w", name, err)
		}
	}
	return out, nil
}

// sharded reports whether the channels are in more than one Secret already: the
// first says so, once the pods mount them all. Which other Secrets exist says
// nothing: anyone who may create a Secret could make one look like the FocalPoint's.
func (l liveChannels) sharded() bool {
	return l.own[0] != nil && l.own[0].Annotations[shardedAnnotation] != ""
}

// placed says which of the first mounted Secrets holds each channel's client
// certificate (the later, if two do, after a write that failed between two steps).
// Secrets the pods do not mount count for nothing: anyone who may create a Secret
// can make one claim the FocalPoint, and packing around it would force a split.
func (l liveChannels) placed(mounted int) map[string]int {
	placed := map[string]int{}
	for i, s := range l.own[:mounted] {
		if s == nil {
			continue
		}
		for k := range s.Data {
			if name, ok := strings.CutSuffix(k, ".crt"); ok {
				placed[name] = i
			}
		}
	}
	return placed
}

// channelsSecret is the i-th channels Secret with data.
func channelsSecret(fp *cybercoopv1alpha1.FocalPoint, i int, data map[string][]byte) *corev1.Secret {
	meta := objectMeta(fp)
	meta.Name = ChannelsShardSecretName(fp, i)
	// The operator never reads the files back, only compares them: its cache holds
	// them as digests, channels.json as it is (read while a batch is under way).
	meta.Labels[manageropts.DigestLabel] = ""
	if i == 0 {
		meta.Labels[manageropts.DigestLabel] = gateway.ChannelsFile
	}
	return &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque, Data: data}
}

// writeShards writes the channels Secrets desired (more than one, or the channels
// are in more than one already) in the order explained above, and reports whether
// the channels file was written; false, with no error, while the pods do not mount
// them all yet.
func (r *Reconciler) writeShards(ctx context.Context, s *scope, live liveChannels, desired []*corev1.Secret) (bool, error) {
	// Somebody else's Secret under one of the names: see the top of this file.
	if s.channelShards == maxChannelShards {
		if err := r.takeOver(ctx, s, live.controlled); err != nil {
			return false, err
		}
	} else if len(live.foreign) > 0 {
		return false, fmt.Errorf("the gateway's channels take more than one Secret, and Secret(s) %s, which they need, are not this FocalPoint's: "+
			"delete or rename them; until then no channel change reaches the gateway", strings.Join(live.foreign, ", "))
	}
	for i := len(desired); i < maxChannelShards; i++ {
		desired = append(desired, channelsSecret(s.fp, i, map[string][]byte{}))
	}
	desired[0].Annotations = map[string]string{shardedAnnotation: strconv.Itoa(maxChannelShards)}
	wanted := map[string][]byte{}
	for _, d := range desired {
		maps.Copy(wanted, d.Data)
	}
	var giving []int
	for i := 1; i < maxChannelShards; i++ {
		step, gives, err := r.gainFirst(ctx, live.own[i], desired[i], wanted)
		if err != nil {
			return false, err
		}
		if gives {
			giving = append(giving, i)
		}
		if step == nil {
			continue
		}
		if _, err := apply.Apply(ctx, s.children, step, channelsSecretSpec, plannedFiles(live.own[i], step)); err != nil {
			return false, err
		}
	}
	// Every Secret the pods are to mount is the FocalPoint's and holds what the
	// operator wrote: now they may mount them all.
	s.channelShards = maxChannelShards
	if live.own[0] != nil && live.own[0].Annotations[shardedAnnotation] == "" {
		// The first time: the pods that mount the first Secret alone must be gone
		// before it gives up any file. (With no first Secret, no pod holds anything
		// of it: a new FocalPoint, or one whose first Secret was deleted, which the
		// pods that mount them all wait for.) The Deployment is read from the API
		// server: one created a moment ago may not be in the cache yet.
		d := &appsv1.Deployment{}
		err := r.apiReader().Get(ctx, types.NamespacedName{Namespace: s.fp.Namespace, Name: gatewayName(s.fp)}, d)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return false, err
		case mountedShards(d) != maxChannelShards || !ca.DeploymentRolledOut(d):
			// Until then the gateway keeps the channels it has, renewals of their
			// certificates included: say so where the platform team looks.
			r.Recorder.Eventf(s.fp, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventChannelsWaitingForRollout, "WriteChannels",
				"the gateway's channels take more than one Secret now: Deployment %s must mount all %d and roll out before its channels file changes; "+
					"until then the gateway keeps the channels it has, and no channel change or certificate renewal reaches it", d.Name, maxChannelShards)
			log.FromContext(ctx).Info("waiting for the gateway's pods to mount every channels Secret", "mounted", mountedShards(d))
			return false, nil
		}
	}
	planned := r.plannedChannels(ctx, desired[0])
	if planned == "" {
		planned = plannedFiles(live.own[0], desired[0])
	}
	if _, err := apply.Apply(ctx, s.children, desired[0], channelsSecretSpec, planned); err != nil {
		return false, err
	}
	for _, i := range giving {
		if _, err := apply.Apply(ctx, s.children, desired[i], channelsSecretSpec, plannedFiles(live.own[i], desired[i])); err != nil {
			return true, err
		}
	}
	return true, nil
}

// takeOver deletes the Secrets of names that another object controls, once the
// gateway's pods mount every channels name: they are in its directory, and are
// replaced by the FocalPoint's (the deletion is conditional on the Secret read, so
// a Secret created since is not deleted unseen).
func (r *Reconciler) takeOver(ctx context.Context, s *scope, names []string) error {
	for _, name := range names {
		sec := &corev1.Secret{}
		if err := r.apiReader().Get(ctx, types.NamespacedName{Namespace: s.fp.Namespace, Name: name}, sec); err != nil {
			return client.IgnoreNotFound(err)
		}
		uid := sec.UID
		if err := r.Delete(ctx, sec, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting Secret %s, which is not this FocalPoint's but its gateway's pods mount: %w", name, err)
		}
		r.Recorder.Eventf(s.fp, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventDriftRepaired, "DeleteSecret",
			"Secret %s is not this FocalPoint's, but its gateway's pods mount that name for the channels: deleted, and written again as the FocalPoint's", name)
	}
	return nil
}

// apiReader reads from the API server: the cache holds the channels Secrets' files
// as digests.
func (r *Reconciler) apiReader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// gainFirst is step 1 for one Secret: desired with the files live holds that desired
// does not (from wanted, or read from the API server for a channel that is gone), or
// nil when live has everything desired has already; and whether live gives any file
// up, so it is written again, as desired, in step 3. When desired and the files it
// keeps would be more than a Secret holds, it is desired alone: the write must land,
// or no change would ever reach the gateway again; until the channels file is
// written, the gateway may then find a file it names missing, and keeps the channels
// it has.
func (r *Reconciler) gainFirst(ctx context.Context, live, desired *corev1.Secret, wanted map[string][]byte) (*corev1.Secret, bool, error) {
	if live == nil {
		return desired, false, nil
	}
	comparable := manageropts.ComparableData(desired, live)
	gains := false
	for k, v := range comparable {
		if was, ok := live.Data[k]; !ok || !bytes.Equal(was, v) {
			gains = true
		}
	}
	var kept []string
	for k := range live.Data {
		if _, ok := desired.Data[k]; !ok {
			kept = append(kept, k)
		}
	}
	switch {
	case !gains:
		return nil, len(kept) > 0, nil
	case len(kept) == 0:
		return desired, false, nil
	}
	step := desired.DeepCopy()
	var stored *corev1.Secret
	for _, k := range kept {
		if v, ok := wanted[k]; ok {
			step.Data[k] = v
			continue
		}
		if stored == nil {
			stored = &corev1.Secret{}
			if err := r.apiReader().Get(ctx, client.ObjectKeyFromObject(live), stored); err != nil {
				return nil, false, fmt.Errorf("reading Secret %s for the files it keeps until the channels file is written: %w", live.Name, err)
			}
		}
		if v, ok := stored.Data[k]; ok {
			step.Data[k] = v
		}
	}
	if dataSize(step.Data) > secretDataLimit {
		return desired, true, nil
	}
	return step, true, nil
}

// dataSize is the bytes of data's keys and values.
func dataSize(data map[string][]byte) int {
	n := 0
	for k, v := range data {
		n += len(k) + len(v)
	}
	return n
}

// channelsVolume is the gateway's channels directory: the channels Secret, or, once
// the channels take more than one, all of them projected into one directory, the
// first (with the channels file) last, so that its files win over any other's.
func channelsVolume(fp *cybercoopv1alpha1.FocalPoint, shards int) corev1.Volume {
	if shards <= 1 {
		return workload.SecretVolume("channels", ChannelsSecretName(fp))
	}
	sources := make([]corev1.VolumeProjection, 0, shards)
	for i := 1; i <= shards; i++ {
		sources = append(sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: ChannelsShardSecretName(fp, i%shards)}}})
	}
	return corev1.Volume{Name: "channels", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: sources}}}
}

// channelsVolumeInSync reports whether the live pod template mounts exactly the
// channels Secrets desired names, in the same order: a source added to the projected
// volume, even one the operator's fields leave unset, could stand in for the channels
// file.
func channelsVolumeInSync(desired, live []corev1.Volume) bool {
	names := func(v *corev1.Volume) []string {
		switch {
		case v == nil:
			return nil
		case v.Secret != nil && v.Projected == nil:
			return []string{"secret:" + v.Secret.SecretName}
		case v.Projected != nil && v.Secret == nil:
			out := []string{"projected"}
			for _, src := range v.Projected.Sources {
				if src.Secret == nil || src.ConfigMap != nil || src.DownwardAPI != nil || src.ServiceAccountToken != nil ||
					src.ClusterTrustBundle != nil || src.PodCertificate != nil || len(src.Secret.Items) > 0 {
					return []string{"other"}
				}
				out = append(out, src.Secret.Name)
			}
			return out
		}
		return []string{"other"}
	}
	return slices.Equal(names(channelsVolumeOf(desired)), names(channelsVolumeOf(live)))
}

// channelsVolumeOf is the gateway's channels volume among vs; nil when there is none.
func channelsVolumeOf(vs []corev1.Volume) *corev1.Volume {
	for i := range vs {
		if vs[i].Name == "channels" {
			return &vs[i]
		}
	}
	return nil
}

// mountedChannels is how many channels Secrets the gateway's pods mount: one when
// there is no Deployment yet.
func (r *Reconciler) mountedChannels(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint) (int, error) {
	d := &appsv1.Deployment{}
	err := r.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: gatewayName(fp)}, d)
	if apierrors.IsNotFound(err) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading Deployment %s: %w", gatewayName(fp), err)
	}
	return max(1, mountedShards(d)), nil
}

// mountedShards is how many channels Secrets the live Deployment's pods mount; 0
// when it mounts none the operator knows.
func mountedShards(d *appsv1.Deployment) int {
	switch v := channelsVolumeOf(d.Spec.Template.Spec.Volumes); {
	case v == nil:
		return 0
	case v.Secret != nil:
		return 1
	case v.Projected != nil:
		return len(v.Projected.Sources)
	}
	return 0
}

// plannedFiles explains a change to a channels Secret by the channels whose files it
// gains, changes or gives up (to another of the channels Secrets, or because the
// channel is gone).
func plannedFiles(live, desired *corev1.Secret) string {
	if live == nil {
		return ""
	}
	comparable := manageropts.ComparableData(desired, live)
	channelOf := func(key string) string {
		for _, suffix := range []string{".trust.pem", ".crt", ".key"} {
			if name, ok := strings.CutSuffix(key, suffix); ok {
				return name
			}
		}
		return ""
	}
	var gained, changed, gone []string
	seen := map[string]bool{}
	note := func(list *[]string, name string) {
		if name != "" && !seen[name] {
			seen[name] = true
			*list = append(*list, name)
		}
	}
	for k, v := range comparable {
		if k == gateway.ChannelsFile {
			continue
		}
		if was, ok := live.Data[k]; !ok {
			note(&gained, channelOf(k))
		} else if string(was) != string(v) {
			note(&changed, channelOf(k))
		}
	}
	for k := range live.Data {
		if _, ok := comparable[k]; !ok && k != gateway.ChannelsFile {
			note(&gone, channelOf(k))
		}
	}
	return listChanges(changes{"files of channels added here", gained}, changes{"files of channels changed", changed},
		changes{"files of channels moved out or removed", gone})
}

// changes are the channels one kind of change concerns.
type changes struct {
	what  string
	names []string
}

// listChanges says "what: a, b; what: c" of the kinds of change that concern any
// channel, the names sorted.
func listChanges(cs ...changes) string {
	var parts []string
	for _, c := range cs {
		if len(c.names) > 0 {
			slices.Sort(c.names)
			parts = append(parts, c.what+": "+strings.Join(c.names, ", "))
		}
	}
	return strings.Join(parts, "; ")
}
