// Package localstack runs a FocalPoint's gateway and an EvidenceVault's vault as
// processes of the caller (goroutines on loopback ports), on the files the
// operator's Secrets and ConfigMaps hold, kept in step with them as a kubelet keeps
// mounted volumes. The two-country test and `make demo` use it where a simulated
// cluster runs no containers.
package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/evidencevault"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// SyncInterval is how often the files are brought in step with the objects.
const SyncInterval = 200 * time.Millisecond

func secretData(ctx context.Context, c client.Client, ns, name string) (map[string][]byte, error) {
	s := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
	}
	return s.Data, nil
}

// channelsData is the gateway's channels directory as the kubelet fills it: the
// Secrets the Deployment's channels volume names, in its order, a later source's
// file taking the place of an earlier one's of the same name; the channels Secret
// when there is no Deployment yet.
func channelsData(ctx context.Context, c client.Client, fp *cybercoopv1alpha1.FocalPoint) (map[string][]byte, error) {
	names := []string{focalpoint.ChannelsSecretName(fp)}
	d := &appsv1.Deployment{}
	err := c.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: fp.Name + "-gateway"}, d)
	if client.IgnoreNotFound(err) != nil {
		return nil, err
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "channels" && v.Projected != nil {
			names = names[:0]
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					names = append(names, src.Secret.Name)
				}
			}
		}
	}
	out := map[string][]byte{}
	for _, name := range names {
		data, err := secretData(ctx, c, fp.Namespace, name)
		if err != nil {
			return nil, err
		}
		maps.Copy(out, data)
	}
	return out, nil
}

// WriteIfChanged replaces a file atomically when its content differs.
func WriteIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func writeFiles(dir string, data map[string][]byte) error {
	for name, body := range data {
		if err := WriteIfChanged(filepath.Join(dir, name), body); err != nil {
			return err
		}
	}
	return nil
}

// Vault is a running vault.
type Vault struct {
	Vault *vault.Vault
	// Addr is its API's loopback address.
	Addr string
	stop func() error

	mu sync.Mutex
	// written are the serving certificate and client CAs last written, and when.
	writtenCert, writtenCA []byte
	writtenAt              time.Time
}

// Loaded reports the serving certificate and client CA bundle the vault serves
// with: those written at least two reload intervals ago, which the vault has
// re-read by then; nil while a newer write may not be loaded yet.
func (v *Vault) Loaded() (clientCAPEM, servingCertPEM []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if time.Since(v.writtenAt) < 2*SyncInterval {
		return nil, nil
	}
	return v.writtenCA, v.writtenCert
}

// StartVault runs ev's vault on the Secrets the operator made, in dir, with the roles
// the StatefulSet's arguments grant: verify and list to the operator, relay to the
// FocalPoint's gateway, ingest and read to every client of the national CA.
func StartVault(ctx context.Context, c client.Client, ev *cybercoopv1alpha1.EvidenceVault, dir string, log logr.Logger) (*Vault, error) {
	// The serving certificate and the trust bundle (the client CAs) are mounted from
	// Secrets and reloaded, as in the StatefulSet: a CA key replacement changes both.
	lv := &Vault{}
	sync := func(ctx context.Context) error {
		serving, err := secretData(ctx, c, ev.Namespace, evidencevault.ServingSecretName(ev))
		if err != nil {
			return err
		}
		trust, err := secretData(ctx, c, ev.Namespace, ev.Spec.FocalPointRef.Name+"-trust-bundle")
		if err != nil {
			return err
		}
		err = errors.Join(WriteIfChanged(filepath.Join(dir, "tls.crt"), serving["tls.crt"]),
			WriteIfChanged(filepath.Join(dir, "tls.key"), serving["tls.key"]),
			WriteIfChanged(filepath.Join(dir, "ca.crt"), trust["ca.crt"]))
		if err == nil {
			lv.mu.Lock()
			if !bytes.Equal(lv.writtenCert, serving["tls.crt"]) || !bytes.Equal(lv.writtenCA, trust["ca.crt"]) {
				lv.writtenCert, lv.writtenCA, lv.writtenAt = serving["tls.crt"], trust["ca.crt"], time.Now()
			}
			lv.mu.Unlock()
		}
		return err
	}
	if err := sync(ctx); err != nil {
		return nil, err
	}
	keys, err := secretData(ctx, c, ev.Namespace, evidencevault.KeyringSecretName(ev))
	if err != nil {
		return nil, err
	}
	keyringDir := filepath.Join(dir, "keyring")
	if err := writeFiles(keyringDir, keys); err != nil {
		return nil, err
	}
	kr, err := vault.LoadKeyring(keyringDir)
	if err != nil {
		return nil, err
	}
	signing, err := secretData(ctx, c, ev.Namespace, evidencevault.CheckpointKeySecretName(ev))
	if err != nil {
		return nil, err
	}
	signer, err := vault.LoadSigner(signing[evidencevault.CheckpointKeyFile])
	if err != nil {
		return nil, err
	}
	operator, err := vault.ParsePrincipals("--verifier", []string{evidencevault.OperatorIdentity(ev.Namespace)})
	if err != nil {
		return nil, err
	}
	relay, err := vault.ParsePrincipals("--relay", []string{focalpoint.GatewayIdentity(ev.Namespace, ev.Spec.FocalPointRef.Name)})
	if err != nil {
		return nil, err
	}
	grants := vault.DefaultGrants()
	grants[vault.RoleVerify], grants[vault.RoleList], grants[vault.RoleRelay] = operator, operator, relay
	v, err := vault.Open(vault.Config{Dir: filepath.Join(dir, "data"), Keyring: kr, Signer: signer, Grants: grants})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(err, v.Close())
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return nil, errors.Join(err, v.Close())
	}
	serveCtx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- vault.Serve(serveCtx, v, vault.ServeConfig{Listen: addr,
			CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), ClientCAFile: filepath.Join(dir, "ca.crt"),
			ReloadInterval: SyncInterval, Logger: log, Ready: func(net.Addr, net.Addr) { close(ready) }})
	}()
	synced := make(chan struct{})
	go func() { keepInStep(serveCtx, sync, log); close(synced) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		return nil, errors.Join(fmt.Errorf("vault %s: %w", ev.Name, err), v.Close())
	case <-ctx.Done():
		cancel()
		return nil, errors.Join(ctx.Err(), v.Close())
	}
	lv.Vault, lv.Addr = v, addr
	lv.stop = func() error {
		cancel()
		<-synced // no file is written once Stop returns
		return errors.Join(<-done, v.Close())
	}
	return lv, nil
}

// Stop stops the vault and closes its store.
func (v *Vault) Stop() error { return v.stop() }

// Gateway is a running gateway.
type Gateway struct {
	Server *gateway.Server
	// URL is its API's base URL on loopback.
	URL  string
	stop func() error
}

// Listen reserves a loopback address for a gateway, so that a peer's channel can
// name it before the gateway starts.
func Listen() (net.Listener, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	return ln, "https://" + ln.Addr().String(), nil
}

// StartGateway runs fp's gateway on ln with its files in dir, kept in step with the
// operator's objects every SyncInterval; the vault's in-cluster address in
// config.json is replaced by vaultAddr. It waits until the files first load.
func StartGateway(ctx context.Context, c client.Client, fp *cybercoopv1alpha1.FocalPoint, vaultAddr string, ln net.Listener, dir string, log logr.Logger) (*Gateway, error) {
	paths := gateway.Paths{
		Config: filepath.Join(dir, "config", gateway.ConfigFile), TLSDir: filepath.Join(dir, "tls"), TrustDir: filepath.Join(dir, "trust"),
		ChannelsDir: filepath.Join(dir, "channels"), VaultClientDir: filepath.Join(dir, "vault-client"),
	}
	sync := func(ctx context.Context) error {
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: fp.Name + "-gateway"}, cm); err != nil {
			return err
		}
		var cfg gateway.Config
		if err := json.Unmarshal([]byte(cm.Data[gateway.ConfigFile]), &cfg); err != nil {
			return err
		}
		if cfg.Vault != nil && vaultAddr != "" {
			cfg.Vault.URL = "https://" + vaultAddr
		}
		body, err := json.Marshal(cfg)
		if err != nil {
			return err
		}
		if err := WriteIfChanged(paths.Config, body); err != nil {
			return err
		}
		for dir, secret := range map[string]string{
			paths.TLSDir: focalpoint.GatewayTLSSecretName(fp), paths.TrustDir: focalpoint.TrustBundleSecretName(fp),
			paths.VaultClientDir: focalpoint.GatewayClientSecretName(fp),
		} {
			data, err := secretData(ctx, c, fp.Namespace, secret)
			if err != nil {
				return err
			}
			if err := writeFiles(dir, data); err != nil {
				return err
			}
		}
		data, err := channelsData(ctx, c, fp)
		if err != nil {
			return err
		}
		return writeFiles(paths.ChannelsDir, data)
	}
	srv := &gateway.Server{Paths: paths, Log: log, ReloadInterval: SyncInterval}
	for {
		err := sync(ctx)
		if err == nil {
			err = srv.Load()
		}
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the gateway of %s/%s never loaded: %w", fp.Namespace, fp.Name, err)
		case <-time.After(SyncInterval):
		}
	}
	serveCtx, cancel := context.WithCancel(context.Background())
	synced := make(chan struct{})
	go func() { keepInStep(serveCtx, sync, log); close(synced) }()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(serveCtx, ln) }()
	return &Gateway{Server: srv, URL: "https://" + ln.Addr().String(), stop: func() error {
		cancel()
		<-synced // no file is written once Stop returns
		return <-done
	}}, nil
}

// Stop stops the gateway.
func (g *Gateway) Stop() error { return g.stop() }

// keepInStep brings the files in step with the objects every SyncInterval, as a
// kubelet does with mounted volumes, until ctx ends.
func keepInStep(ctx context.Context, sync func(context.Context) error, log logr.Logger) {
	ticker := time.NewTicker(SyncInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := sync(ctx); err != nil && ctx.Err() == nil {
				log.V(1).Info("files not brought in step yet", "error", err.Error())
			}
		}
	}
}
