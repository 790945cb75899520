// Package secureserving is the HTTPS port of a component that is not an API server, as
// kube-controller-manager and kube-scheduler serve theirs: /metrics for callers the host
// cluster authenticates (TokenReview, or a client certificate of its CAs) and authorizes
// (SubjectAccessReview), /healthz, /livez and /readyz for anyone. Its flags are
// k8s.io/apiserver's: --bind-address, --secure-port, --tls-*, --authentication-*,
// --authorization-*, --requestheader-*.
//
// It is built from the small pieces of k8s.io/apiserver (dynamic certificates, the request
// authenticators, the authorizer interfaces), not from its pkg/server and
// pkg/server/options: those link the whole generic API server (etcd client, gRPC,
// OpenTelemetry exporters, CEL) and doubled the binary and its resident memory. Flags,
// defaults and behaviour are those of upstream's SecureServingOptions,
// SecureServingInfo.Serve and delegating authentication and authorization options.
//
// A command calls NewOptions, Options.AddFlags, Options.Validate, Options.Config (which
// listens) and Config.Serve with NewMux or a handler of its own.
package secureserving
