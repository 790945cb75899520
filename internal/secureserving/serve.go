package secureserving

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/klog/v2"
)

// Serve serves handler over TLS until stopCh closes, as SecureServingInfo.Serve of
// k8s.io/apiserver does: certificates and client CAs reloaded when they change, HTTP/2
// with its limits, TCP keep-alive, TLS handshake errors logged at -v=5 only.
func (c *ServingInfo) Serve(handler http.Handler, stopCh <-chan struct{}) error {
	tlsConfig := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		NextProtos:       []string{"h2", "http/1.1"},
		CipherSuites:     c.CipherSuites,
		CurvePreferences: c.CurvePreferences,
	}
	if c.DisableHTTP2 {
		tlsConfig.NextProtos = []string{"http/1.1"}
	}
	if c.MinTLSVersion > 0 {
		tlsConfig.MinVersion = c.MinTLSVersion
	}
	if c.ClientCA != nil {
		// Asked for, verified by the authenticators: a caller without one is anonymous.
		tlsConfig.ClientAuth = tls.RequestClientCert
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-stopCh
		cancel()
	}()
	dynamic := dynamiccertificates.NewDynamicServingCertificateController(tlsConfig, c.ClientCA, c.Cert, c.SNICerts, nil)
	run := func(what string, p any) {
		if controller, ok := p.(dynamiccertificates.ControllerRunner); ok {
			if err := controller.RunOnce(ctx); err != nil {
				klog.ErrorS(err, "Initial population failed", "what", what)
			}
			go controller.Run(ctx, 1)
		}
	}
	if c.ClientCA != nil {
		c.ClientCA.AddListener(dynamic)
		run("client CA", c.ClientCA)
	}
	if c.Cert != nil {
		c.Cert.AddListener(dynamic)
		run("serving certificate", c.Cert)
	}
	for _, sni := range c.SNICerts {
		sni.AddListener(dynamic)
		run("SNI serving certificate", sni)
	}
	if err := dynamic.RunOnce(); err != nil {
		klog.ErrorS(err, "Initial population of dynamic certificates failed")
	}
	go dynamic.Run(1, stopCh)
	tlsConfig.GetConfigForClient = dynamic.GetConfigForClient

	srv := &http.Server{
		Addr:              c.Listener.Addr().String(),
		Handler:           handler,
		MaxHeaderBytes:    1 << 20,
		TLSConfig:         tlsConfig,
		IdleTimeout:       90 * time.Second,
		ReadHeaderTimeout: 32 * time.Second,
		ErrorLog:          log.New(tlsHandshakeErrorWriter{os.Stderr}, "", 0),
	}
	if !c.DisableHTTP2 {
		// Upstream's HTTP/2 limits, with net/http's own HTTP/2 server (x/net/http2 is not
		// a direct dependency of this module).
		const resourceBody99Percentile = 256 * 1024
		streams := 100
		if c.HTTP2MaxStreamsPerConnection > 0 {
			streams = c.HTTP2MaxStreamsPerConnection
		}
		srv.HTTP2 = &http.HTTP2Config{
			MaxConcurrentStreams:          streams,
			MaxReadFrameSize:              resourceBody99Percentile,
			MaxReceiveBufferPerStream:     resourceBody99Percentile,
			MaxReceiveBufferPerConnection: resourceBody99Percentile * streams,
		}
	}
	go func() {
		<-stopCh
		_ = srv.Close()
	}()
	klog.InfoS("Serving securely", "address", srv.Addr)
	go func() {
		err := srv.Serve(tls.NewListener(tcpKeepAliveListener{c.Listener}, tlsConfig))
		select {
		case <-stopCh:
			klog.InfoS("Stopped listening", "address", srv.Addr)
		default:
			// The port answers the kubelet's probes: without it the pod is restarted anyway.
			klog.ErrorS(err, "Stopped listening", "address", srv.Addr)
			klog.FlushAndExit(klog.ExitFlushTimeout, 1)
		}
	}()
	return nil
}

type tcpKeepAliveListener struct{ net.Listener }

func (l tcpKeepAliveListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetKeepAlive(true)
		_ = tc.SetKeepAlivePeriod(3 * time.Minute)
	}
	return c, nil
}

// tlsHandshakeErrorWriter keeps scanners' and probes' failed handshakes out of the log.
type tlsHandshakeErrorWriter struct{ out io.Writer }

func (w tlsHandshakeErrorWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "http: TLS handshake error") {
		klog.V(5).Info(string(p))
		return len(p), nil
	}
	return w.out.Write(p)
}
