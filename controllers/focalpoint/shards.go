package focalpoint

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
)

// The gateway's channels are split across Secrets when one cannot hold them.
//
// Each channel puts three files in the gateway's channels directory: its client
// certificate, its key and its peer's CA bundle. A Secret holds at most 1 MiB, and a
// peer's bundle may take up to 64 KiB (spec.peer.trustBundle.pem): with P-256 CAs a
// channel takes about 2 KiB and one Secret holds some 480 channels, but with RSA
// CAs, intermediates, or a peer in the middle of a key replacement (old and new CA
// both trusted) it can take 5 to 20 KiB, and a State with a channel to each of the
// other 192 States Parties no longer fits. The API server then refuses the Secret,
// and from then on no channel change reaches the gateway, certificate renewals
// included: an outage at the next expiry.
//
// So the channels file and as many channels' files as fit go to the first Secret
// (ChannelsSecretName, as before: a FocalPoint whose channels fit in one Secret has
// exactly what it had), and the rest to further Secrets (ChannelsShardSecretName),
// each at most channelShardBytes. The gateway mounts them all into one directory (a
// projected volume) and reads them as one; what it reads is unchanged. A channel
// stays in the Secret that holds it while it fits there, so a renewal rewrites one
// Secret, not every Secret after it. Up to maxChannelShards Secrets: 14 MiB, enough
// for 192 channels whose peers each send the largest bundle the API accepts.
const (
	// channelShardBytes is the most data one channels Secret holds: the API
	// server's limit is 1 MiB of data, and the margin leaves room for the object's
	// metadata within etcd's request limit.
	channelShardBytes = 900 << 10
	// maxChannelShards is how many channels Secrets a FocalPoint may have.
	maxChannelShards = 16
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

func (c channelFiles) size() int {
	n := 0
	for k, v := range c.files {
		n += len(k) + len(v)
	}
	return n
}

// shardChannels places the channels file (index) and the channels' files into
// Secrets of at most budget bytes each (keys and values), at most maxShards of
// them: the index in the first; each channel, in order, in the Secret placed says
// holds it if it still fits there, otherwise in the first with room. It returns
// each Secret's data, as many as are used (at least one), or an error naming what
// does not fit.
func shardChannels(index []byte, channels []channelFiles, placed map[string]int, budget, maxShards int) ([]map[string][]byte, error) {
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

// liveShards reads the FocalPoint's channels Secrets (from the cache: their data
// digested), by index; one that is missing, or is not the FocalPoint's (somebody
// else's Secret under its name, whose files must never reach the gateway), is nil.
func (r *Reconciler) liveShards(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint) ([]*corev1.Secret, error) {
	out := make([]*corev1.Secret, maxChannelShards)
	for i := range out {
		s := &corev1.Secret{}
		err := r.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: ChannelsShardSecretName(fp, i)}, s)
		switch {
		case err == nil && metav1.IsControlledBy(s, fp):
			out[i] = s
		case err == nil:
		case client.IgnoreNotFound(err) != nil:
			return nil, fmt.Errorf("reading Secret %s: %w", ChannelsShardSecretName(fp, i), err)
		}
	}
	return out, nil
}

// shardCount is how many channels Secrets the gateway mounts: through the last that
// exists, at least one.
func shardCount(live []*corev1.Secret) int {
	n := 1
	for i, s := range live {
		if s != nil {
			n = i + 1
		}
	}
	return n
}

// placedChannels says which live Secret holds each channel's client certificate.
func placedChannels(live []*corev1.Secret) map[string]int {
	placed := map[string]int{}
	for i, s := range live {
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

// channelsVolume is the gateway's channels directory: the channels Secret, or, when
// the channels take more than one, all of them projected into one directory. Only
// the first must exist; the others are optional, so a pod of the previous template
// keeps running while one it names is deleted.
func channelsVolume(fp *cybercoopv1alpha1.FocalPoint, shards int) corev1.Volume {
	if shards <= 1 {
		return corev1.Volume{Name: "channels", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: ChannelsSecretName(fp)}}}
	}
	sources := make([]corev1.VolumeProjection, shards)
	for i := range sources {
		sources[i] = corev1.VolumeProjection{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: ChannelsShardSecretName(fp, i)}, Optional: ptr.To(i > 0)}}
	}
	return corev1.Volume{Name: "channels", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: sources}}}
}

// mountedShards is how many channels Secrets the live Deployment's pods mount; 0
// when it mounts none the operator knows.
func mountedShards(d *appsv1.Deployment) int {
	for _, v := range d.Spec.Template.Spec.Volumes {
		switch {
		case v.Name != "channels":
		case v.Secret != nil:
			return 1
		case v.Projected != nil:
			return len(v.Projected.Sources)
		}
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
	var parts []string
	for _, p := range []struct {
		what  string
		names []string
	}{{"files of channels added here", gained}, {"files of channels changed", changed}, {"files of channels moved out or removed", gone}} {
		if len(p.names) > 0 {
			slices.Sort(p.names)
			parts = append(parts, p.what+": "+strings.Join(p.names, ", "))
		}
	}
	return strings.Join(parts, "; ")
}
