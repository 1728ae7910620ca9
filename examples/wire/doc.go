// Command wire is the smallest complete wiring of rollpin into a gRPC
// service, server and client side, with pind as the source of pins:
//
//	go run ./cmd/pind --data-dir /tmp/pind &   # listens on 127.0.0.1:7070
//	go run ./examples/wire                      # -pind 127.0.0.1:7070
//
// Serve shows the server side: the two server interceptors on
// grpc.NewServer, and a pinclient.Client that registers the process as a live
// instance (so that pind knows the fleet's floor) for as long as it serves.
// Call shows the client side: a pinclient.Client watching the pins, used as
// the PinSource of the two client interceptors, and interceptor.CanSend to
// gate a feature on the pin, as OpenStack code does with can_send_version.
// Both take the interceptor options, here the Prometheus collectors of
// interceptor/prometheus.
package main
