// Package pinclient is the Go client of pind that gRPC services link: it
// keeps the pins of every service up to date and implements
// interceptor.PinSource, and it registers a serving process as a live
// instance of the services it serves.
//
// It depends on nothing but grpc, protobuf, rollpin's generated API and
// package backport: importing it links neither pind's server side (package
// pinsvc, etcd, zap) nor the Prometheus client.
package pinclient
