// Command wire needs a running pind. It is the smallest complete wiring of
// rollpin into a gRPC service, server and client side, with pind as the
// source of pins:
//
//	go run ./cmd/pind --data-dir /tmp/pind &   # listens on 127.0.0.1:7070
//	go run ./examples/wire                      # -pind 127.0.0.1:7070
//
// Serve shows the server side: the two server interceptors on
// grpc.NewServer, and a pinclient.Client (package pinsvc/pinclient, which
// links no etcd) that registers the process as a live instance (so that
// pind knows the fleet's floor) for as long as it serves.
// Call shows the client side: a pinclient.Client watching the pins, used as
// the PinSource of the two client interceptors, and interceptor.CanSend to
// gate a feature on the pin, as OpenStack code does with can_send_version.
// Both take the interceptor options, here the Prometheus collectors of
// interceptor/prometheus.
//
// Its first line of output says that it needs pind and where it looks for
// it; without an answer from pind within -wait (10s) it exits with status 1
// and says how to start one.
package main
