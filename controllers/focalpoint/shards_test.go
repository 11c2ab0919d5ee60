package focalpoint

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
)

// testChannelFiles are n channels to-00, to-01, … whose files take about size bytes each.
func testChannelFiles(n, size int) []channelFiles {
	out := make([]channelFiles, n)
	for i := range out {
		ch := gateway.Channel{Name: fmt.Sprintf("to-%02d", i)}
		out[i] = channelFiles{name: ch.Name, files: map[string][]byte{
			ch.ClientCertFile(): bytes.Repeat([]byte{'c'}, size/2),
			ch.ClientKeyFile():  bytes.Repeat([]byte{'k'}, size/8),
			ch.TrustFile():      bytes.Repeat([]byte{byte('a' + i%26)}, size-size/2-size/8),
		}}
	}
	return out
}

// placedIn is placedChannels over packed shards.
func placedIn(shards []map[string][]byte) map[string]int {
	live := liveChannels{own: make([]*corev1.Secret, maxChannelShards)}
	for i, d := range shards {
		live.own[i] = &corev1.Secret{Data: d}
	}
	return live.placed(maxChannelShards)
}

func TestShardChannelsKeepsSmallFocalPointsInOneSecret(t *testing.T) {
	g := NewWithT(t)
	index := []byte(`{"channels":[]}`)
	chans := testChannelFiles(192, 2100)
	shards, err := shardChannels(index, chans, nil, channelShardBytes, maxChannelShards)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(shards).To(HaveLen(1), "192 channels of 2.1 KiB, as with P-256 CAs, fit in the one Secret FocalPoints always had")
	g.Expect(shards[0]).To(HaveKeyWithValue(gateway.ChannelsFile, index))
	g.Expect(shards[0]).To(HaveLen(1 + 3*192))
}

func TestShardChannelsSplitsWhatOneSecretCannotHold(t *testing.T) {
	g := NewWithT(t)
	index := bytes.Repeat([]byte{'i'}, 40<<10)
	// 192 peers each sending a bundle of about 20 KiB: 4 MiB in all.
	chans := testChannelFiles(192, 21<<10)
	shards, err := shardChannels(index, chans, nil, channelShardBytes, maxChannelShards)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(shards)).To(BeNumerically(">=", 5))
	g.Expect(shards[0]).To(HaveKeyWithValue(gateway.ChannelsFile, index), "the channels file is in the first Secret")
	seen := map[string]int{}
	for i, data := range shards {
		g.Expect(dataSize(data)).To(BeNumerically("<=", channelShardBytes), "Secret %d", i)
		g.Expect(data).NotTo(BeEmpty(), "Secret %d", i)
		for k := range data {
			seen[k]++
		}
	}
	for _, ch := range chans {
		var in []int
		for k := range ch.files {
			g.Expect(seen[k]).To(Equal(1), "%s is in exactly one Secret", k)
			for i, data := range shards {
				if _, ok := data[k]; ok {
					in = append(in, i)
				}
			}
		}
		g.Expect(in).To(HaveLen(3))
		g.Expect(in[0] == in[1] && in[1] == in[2]).To(BeTrue(), "the three files of %s are in one Secret: %v", ch.name, in)
	}
}

func TestShardChannelsRewritesOnlyTheSecretOfAChangedChannel(t *testing.T) {
	g := NewWithT(t)
	index := []byte(`{"channels":[]}`)
	chans := testChannelFiles(100, 30<<10)
	before, err := shardChannels(index, chans, nil, channelShardBytes, maxChannelShards)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(before)).To(BeNumerically(">=", 3))

	// The last channel of the first Secret is renewed, its certificate a few bytes
	// longer: placed in order, it would no longer fit and push every later channel on.
	renewed := testChannelFiles(100, 30<<10)
	last := ""
	for _, ch := range renewed {
		if _, ok := before[0][gateway.Channel{Name: ch.name}.ClientCertFile()]; ok {
			last = ch.name
		}
	}
	g.Expect(last).NotTo(BeEmpty())
	room := channelShardBytes - dataSize(before[0])
	for i := range renewed {
		if renewed[i].name == last {
			f := gateway.Channel{Name: last}.ClientCertFile()
			renewed[i].files[f] = bytes.Repeat([]byte{'r'}, len(renewed[i].files[f])+room+1)
		}
	}
	after, err := shardChannels(index, renewed, placedIn(before), channelShardBytes, maxChannelShards)
	g.Expect(err).NotTo(HaveOccurred())
	changed := 0
	for i := range max(len(before), len(after)) {
		if i >= len(before) || i >= len(after) || !maps.EqualFunc(before[i], after[i], bytes.Equal) {
			changed++
		}
	}
	g.Expect(changed).To(Equal(2), "the renewed channel moves to a Secret with room; no other channel moves")

	// A channel of the first Secret removed: the next channel in order would fit
	// in the room it leaves, and, placed in order, move there and pull every later
	// channel one place on. It stays where it is.
	removed := slices.Delete(testChannelFiles(100, 30<<10), 10, 11)
	fourth, err := shardChannels(index, removed, placedIn(before), channelShardBytes, maxChannelShards)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(fourth).To(HaveLen(len(before)))
	for i := 1; i < len(before); i++ {
		g.Expect(maps.EqualFunc(before[i], fourth[i], bytes.Equal)).To(BeTrue(), "Secret %d is unchanged", i)
	}

	// A renewal of the same size changes its own Secret only.
	again := testChannelFiles(100, 30<<10)
	f := gateway.Channel{Name: "to-50"}.ClientCertFile()
	again[50].files[f] = bytes.Repeat([]byte{'n'}, len(again[50].files[f]))
	third, err := shardChannels(index, again, placedIn(before), channelShardBytes, maxChannelShards)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(third).To(HaveLen(len(before)))
	changed = 0
	for i := range before {
		if !maps.EqualFunc(before[i], third[i], bytes.Equal) {
			changed++
		}
	}
	g.Expect(changed).To(Equal(1))
}

func TestShardChannelsRefusesWhatNoSecretsHold(t *testing.T) {
	g := NewWithT(t)
	_, err := shardChannels(bytes.Repeat([]byte{'i'}, 1000), nil, nil, 900, 4)
	g.Expect(err).To(MatchError(ContainSubstring("the channels file lists 0 channel(s) in 1.0 KiB, more than a channels Secret holds (0.9 KiB)")))

	_, err = shardChannels([]byte("{}"), testChannelFiles(3, 2000), nil, 1024, 4)
	g.Expect(err).To(MatchError(ContainSubstring("the files of channel to-00 take 2.0 KiB, more than a channels Secret holds (1 KiB)")))

	// The CRD's largest bundle (64 KiB) from each of 192 peers fits in the most Secrets a FocalPoint may have.
	shards, err := shardChannels(bytes.Repeat([]byte{'i'}, 80<<10), testChannelFiles(192, 66<<10), nil, channelShardBytes, maxChannelShards)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(shards)).To(BeNumerically("<=", maxChannelShards))

	_, err = shardChannels([]byte("{}"), testChannelFiles(300, 66<<10), nil, channelShardBytes, maxChannelShards)
	g.Expect(err).To(MatchError(ContainSubstring("more than the 16 channels Secrets of 900 KiB a FocalPoint may have hold")))
}

func TestChannelsVolume(t *testing.T) {
	g := NewWithT(t)
	fp := newFocalPoint("ns")
	one := channelsVolume(fp, 1)
	g.Expect(one.Secret).NotTo(BeNil(), "one Secret is mounted as before: no rollout for FocalPoints whose channels fit")
	g.Expect(one.Secret.SecretName).To(Equal(ChannelsSecretName(fp)))
	g.Expect(one.Projected).To(BeNil())

	all := channelsVolume(fp, maxChannelShards)
	g.Expect(all.Secret).To(BeNil())
	g.Expect(all.Projected.Sources).To(HaveLen(maxChannelShards))
	for i, src := range all.Projected.Sources {
		// The first Secret, with the channels file, is the last source: no other
		// Secret's file of the same name can stand in for one of its files.
		g.Expect(src.Secret.Name).To(Equal(ChannelsShardSecretName(fp, (i+1)%maxChannelShards)))
		g.Expect(src.Secret.Optional).To(BeNil(), "every one exists, the FocalPoint's")
	}
	g.Expect(ChannelsShardSecretName(fp, 2)).To(Equal(ChannelsSecretName(fp) + "-2"))

	d := desiredDeployment(fp, &corev1.ConfigMap{}, testGatewayImage, nil, maxChannelShards)
	g.Expect(mountedShards(d)).To(Equal(maxChannelShards))
	g.Expect(mountedShards(desiredDeployment(fp, &corev1.ConfigMap{}, testGatewayImage, nil, 1))).To(Equal(1))
}

func TestPlannedFilesNamesTheChannelsAChangeConcerns(t *testing.T) {
	g := NewWithT(t)
	chans := testChannelFiles(3, 300)
	liveData := map[string][]byte{}
	for _, ch := range chans[:2] {
		maps.Copy(liveData, ch.files)
	}
	live := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{manageropts.DigestLabel: ""},
		Annotations: map[string]string{manageropts.DigestedAnnotation: "sha256"}}, Data: manageropts.DigestData(liveData, "")}
	desiredData := maps.Clone(chans[2].files)
	maps.Copy(desiredData, chans[1].files)
	desiredData[gateway.Channel{Name: "to-01"}.ClientCertFile()] = []byte("renewed")
	desired := &corev1.Secret{Data: desiredData}
	g.Expect(plannedFiles(live, desired)).To(Equal("files of channels added here: to-02; files of channels changed: to-01; files of channels moved out or removed: to-00"))
	g.Expect(plannedFiles(nil, desired)).To(BeEmpty())
}

var _ = Describe("The gateway's channels Secrets under the operator's names", func() {
	It("are only the FocalPoint's own: a stranger's Secret named like one is neither mounted nor read", func(ctx SpecContext) {
		fp := newFocalPoint(newNamespace(ctx))
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		own := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fp.Namespace, Name: ChannelsSecretName(fp)},
			Data: map[string][]byte{gateway.ChannelsFile: []byte(`{"channels":[]}`), "to-fr.crt": []byte("x")}}
		Expect(controllerutil.SetControllerReference(fp, own, scheme)).To(Succeed())
		Expect(k8sClient.Create(ctx, own)).To(Succeed())
		// Somebody who may create Secrets in the namespace, but is not the operator,
		// offers the gateway a CA of their own for France.
		stranger := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fp.Namespace, Name: ChannelsShardSecretName(fp, 2)},
			Data: map[string][]byte{"to-fr.trust.pem": []byte("a stranger's CA"), "to-de.crt": []byte("y")}}
		Expect(k8sClient.Create(ctx, stranger)).To(Succeed())

		live, err := (&Reconciler{Client: k8sClient}).liveShards(ctx, fp)
		Expect(err).NotTo(HaveOccurred())
		Expect(live.own).To(HaveLen(maxChannelShards))
		Expect(live.own[0]).NotTo(BeNil())
		Expect(live.own[2]).To(BeNil(), "not the FocalPoint's")
		Expect(live.foreign).To(Equal([]string{stranger.Name}))
		Expect(live.sharded()).To(BeFalse())
		Expect(live.placed(1)).To(Equal(map[string]int{"to-fr": 0}))

		By("needing more than one Secret: the stranger's is neither taken over nor written")
		sp := &scope{fp: fp}
		_, err = (&Reconciler{Client: k8sClient}).writeShards(ctx, sp, live, []*corev1.Secret{channelsSecret(fp, 0, nil), channelsSecret(fp, 1, nil)})
		Expect(err).To(MatchError(ContainSubstring("Secret(s) " + stranger.Name + ", which they need, are not this FocalPoint's")))
		Expect(sp.channelShards).To(BeZero(), "the pods' volume is left as it is")
		after := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(stranger), after)).To(Succeed())
		Expect(after.Data).To(Equal(stranger.Data))
		Expect(after.OwnerReferences).To(BeEmpty())
		other := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: fp.Namespace, Name: ChannelsShardSecretName(fp, 1)}, other)).To(Satisfy(apierrors.IsNotFound))
	})
})

var _ = Describe("A channels Secret written before the channels file", func() {
	It("keeps the files it gives up until the channels file no longer names them", func(ctx SpecContext) {
		fp := newFocalPoint(newNamespace(ctx))
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		files := func(name, version string) map[string][]byte {
			ch := gateway.Channel{Name: name}
			return map[string][]byte{ch.ClientCertFile(): []byte(name + " certificate " + version),
				ch.ClientKeyFile(): []byte(name + " key " + version), ch.TrustFile(): []byte(name + " CAs " + version)}
		}
		union := func(ms ...map[string][]byte) map[string][]byte {
			out := map[string][]byte{}
			for _, m := range ms {
				maps.Copy(out, m)
			}
			return out
		}
		// The second Secret holds channel x, which moves to the first, and y, which is removed.
		stored := channelsSecret(fp, 2, union(files("x", "1"), files("y", "1")))
		Expect(controllerutil.SetControllerReference(fp, stored, scheme)).To(Succeed())
		Expect(k8sClient.Create(ctx, stored)).To(Succeed())
		cached := stored.DeepCopy() // as the manager's cache holds it
		cached.Data = manageropts.DigestData(stored.Data, "")
		cached.Annotations = map[string]string{manageropts.DigestedAnnotation: "sha256"}
		r := &Reconciler{Client: k8sClient, APIReader: k8sClient}
		// x as the channels' Secrets are to hold it: renewed meanwhile.
		wanted := union(files("x", "2"), files("z", "1"))

		By("gaining channel z")
		step, gives, err := r.gainFirst(ctx, cached, channelsSecret(fp, 2, files("z", "1")), wanted)
		Expect(err).NotTo(HaveOccurred())
		Expect(gives).To(BeTrue(), "written again, as desired, once the channels file is")
		Expect(step.Data).To(Equal(union(files("z", "1"), files("x", "2"), files("y", "1"))),
			"z's files, and until then x's as the channels Secrets are to hold them and y's as they were")

		By("gaining nothing")
		step, gives, err = r.gainFirst(ctx, cached, channelsSecret(fp, 2, map[string][]byte{}), wanted)
		Expect(err).NotTo(HaveOccurred())
		Expect(step).To(BeNil(), "not written before the channels file")
		Expect(gives).To(BeTrue())

		By("only gaining")
		desired := channelsSecret(fp, 2, union(files("x", "1"), files("y", "1"), files("z", "1")))
		step, gives, err = r.gainFirst(ctx, cached, desired, wanted)
		Expect(err).NotTo(HaveOccurred())
		Expect(step).To(BeIdenticalTo(desired))
		Expect(gives).To(BeFalse())
	})
})

func TestChannelsSecretsAreNeverWrittenOverTheAPILimit(t *testing.T) {
	g := NewWithT(t)
	fp := newFocalPoint("ns")
	// A Secret full to its budget gives up 300 KiB of channels and gains as much:
	// the two together are more than the API server accepts.
	old := testChannelFiles(29, 30<<10)
	liveData := map[string][]byte{}
	for _, ch := range old {
		maps.Copy(liveData, ch.files)
	}
	live := channelsSecret(fp, 1, manageropts.DigestData(liveData, ""))
	live.Annotations = map[string]string{manageropts.DigestedAnnotation: "sha256"}
	fresh := testChannelFiles(39, 30<<10)[29:]
	desiredData := map[string][]byte{}
	for _, ch := range append(old[10:], fresh...) {
		maps.Copy(desiredData, ch.files)
	}
	wanted := maps.Clone(desiredData)
	for _, ch := range old[:10] {
		maps.Copy(wanted, ch.files) // moved to another Secret: their bytes are known
	}
	desired := channelsSecret(fp, 1, desiredData)
	step, gives, err := (&Reconciler{}).gainFirst(context.Background(), live, desired, wanted)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(gives).To(BeTrue())
	g.Expect(step).To(BeIdenticalTo(desired), "desired alone: a write of both would be refused, every time")
	g.Expect(dataSize(desired.Data)).To(BeNumerically("<=", channelShardBytes))
}

func TestChannelsVolumeInSync(t *testing.T) {
	g := NewWithT(t)
	fp := newFocalPoint("ns")
	vols := func(v corev1.Volume) []corev1.Volume { return []corev1.Volume{{Name: "config"}, v} }
	all := channelsVolume(fp, maxChannelShards)
	g.Expect(channelsVolumeInSync(vols(all), vols(*all.DeepCopy()))).To(BeTrue())
	g.Expect(channelsVolumeInSync(vols(channelsVolume(fp, 1)), vols(channelsVolume(fp, 1)))).To(BeTrue())
	g.Expect(channelsVolumeInSync(vols(channelsVolume(fp, 1)), vols(all))).To(BeFalse())
	g.Expect(channelsVolumeInSync(vols(all), vols(channelsVolume(fp, 1)))).To(BeFalse())

	appended := all.DeepCopy()
	appended.Projected.Sources = append(appended.Projected.Sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
		LocalObjectReference: corev1.LocalObjectReference{Name: "someone-elses"}}})
	g.Expect(channelsVolumeInSync(vols(all), vols(*appended))).To(BeFalse(), "a source appended after the channels file's")

	withItems := all.DeepCopy()
	withItems.Projected.Sources[3].Secret.Items = []corev1.KeyToPath{{Key: "x.crt", Path: "channels.json"}}
	g.Expect(channelsVolumeInSync(vols(all), vols(*withItems))).To(BeFalse(), "a file mapped to another name")
}

func TestChannelsSecretsImmutableAreReplacedWhole(t *testing.T) {
	g := NewWithT(t)
	fp := newFocalPoint("ns")
	d := channelsSecret(fp, 3, map[string][]byte{})
	l := d.DeepCopy()
	g.Expect(channelsSecretSpec.Recreate(d, l)).To(BeFalse())
	l.Immutable = ptr.To(true)
	g.Expect(channelsSecretSpec.Recreate(d, l)).To(BeFalse(), "immutable and as desired (an admission policy may make every Secret so): kept")
	l.Data = map[string][]byte{"to-fr.trust.pem": []byte("somebody's CA")}
	g.Expect(channelsSecretSpec.Recreate(d, l)).To(BeTrue(), "immutable and not as desired: its data could never be put right in place")
}

func TestChannelsAreShardedOnlyWhenTheFirstSecretSaysSo(t *testing.T) {
	g := NewWithT(t)
	fp := newFocalPoint("ns")
	live := liveChannels{own: make([]*corev1.Secret, maxChannelShards)}
	live.own[0] = channelsSecret(fp, 0, nil)
	// A Secret under another channels name that claims the FocalPoint for its
	// controller, as anyone who may create Secrets can write.
	live.own[7] = channelsSecret(fp, 7, nil)
	g.Expect(live.sharded()).To(BeFalse())
	live.own[0].Annotations = map[string]string{shardedAnnotation: "16"}
	g.Expect(live.sharded()).To(BeTrue())

	// Nor does it choose where channels go while the pods mount the first alone.
	live.own[7].Data = map[string][]byte{"to-fr.crt": []byte("x")}
	g.Expect(live.placed(1)).To(BeEmpty())
	g.Expect(live.placed(maxChannelShards)).To(Equal(map[string]int{"to-fr": 7}))
}
