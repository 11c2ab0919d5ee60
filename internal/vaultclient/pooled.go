package vaultclient

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"time"
)

// NewPooled returns a client that keeps its connections open between calls, for a
// service that calls the vault on every request it serves (the gateway): one TLS
// handshake per connection rather than per call.
func NewPooled(base, serverName string, clientCert tls.Certificate, roots *x509.CertPool) *Client {
	return &Client{base: base, http: &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{
				MinVersion:   tls.VersionTLS13,
				ServerName:   serverName,
				RootCAs:      roots,
				Certificates: []tls.Certificate{clientCert},
			},
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: defaultTimeout,
		},
	}}
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }
