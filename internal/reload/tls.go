package reload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
)

// MutualTLS serves a mutual-TLS server configuration (TLS 1.3 only, client
// certificates required and verified) from a certificate, its key and a
// client CA bundle on disk. Each handshake takes the configuration current at
// that moment, so established connections keep what they were made with and
// new ones get the new files.
type MutualTLS struct {
	*Files
	current atomic.Pointer[tls.Config]
}

// NewMutualTLS loads the files and fails if any is unusable, so a service
// never starts without mutual TLS.
func NewMutualTLS(certFile, keyFile, clientCAFile string) (*MutualTLS, error) {
	m := &MutualTLS{}
	files, err := NewFiles(func(c [][]byte) error {
		cfg, err := mutualTLSConfig(certFile, keyFile, clientCAFile, c[0], c[1], c[2])
		if err != nil {
			return err
		}
		m.current.Store(cfg)
		return nil
	}, certFile, keyFile, clientCAFile)
	if err != nil {
		return nil, err
	}
	m.Files = files
	return m, nil
}

func mutualTLSConfig(certFile, keyFile, caFile string, certPEM, keyPEM, caPEM []byte) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls errors name the mismatch, never the key bytes.
		return nil, fmt.Errorf("server certificate %s and key %s: %w", certFile, keyFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("client CA bundle %s holds no PEM certificates", caFile)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		// HTTP/1.1 only: an aborted response then closes the connection,
		// which every client reports as a truncated body.
		NextProtos: []string{"http/1.1"},
	}, nil
}

// ServerConfig returns the listener's TLS configuration.
func (m *MutualTLS) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAndVerifyClientCert,
		NextProtos: []string{"http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			if c := m.current.Load(); c != nil {
				return c, nil
			}
			return nil, errors.New("no TLS configuration loaded")
		},
	}
}
